"""The ENG5 research runner (`python manage.py eng5 plan|dry-run|execute|anchor-align`).

- `inventory`: the run's inputs read and checked (opaque essay ids, grades, duplicates);
- `planning`: expected comparisons, rounds, tokens and cost from the model manifest;
- `artefact`: the versioned JSON artefact (pydantic) and how it is built from a batch;
- `writers` and `plots`: the JSON, CSV and Markdown files and the PNG plots in `--out`.
"""
