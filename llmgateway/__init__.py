"""The LLM provider gateway: the only code that talks to a model; it knows nothing of essays or batches."""
