"""`python manage.py cj_score FILE.csv`: score any CJ judgement file with the engine.

Reads a judgement file (header `candidate_chosen,candidate_not_chosen` or `winner,loser`,
optional `judge` and `first_shown`), fits Bradley–Terry, and prints SSR, separation, split-half
reliability and, when positions are known, the position bias; per item: id, θ, SE, infit,
outfit, comparisons, rank (to a CSV with --out, as JSON with --json). No database is touched.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.engine.judgement_file import JudgementFileError, Judgements, read_judgements
from assessments.engine.population import PopulationFit, fit_population
from assessments.engine.scoring import BTFit, DisconnectedComparisonsError, fit_bt, split_half_reliability

ITEM_COLUMNS = ("id", "theta", "se", "infit", "outfit", "comparisons", "rank")


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(value)
    return number


def _json_number(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class Command(BaseCommand):
    help = "Fit Bradley–Terry to a CJ judgement CSV and report reliability and per-item estimates."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="judgement CSV file")
        parser.add_argument("--out", type=Path, help="write per-item results to this CSV file")
        parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
        parser.add_argument("--split-halves", type=_non_negative, default=100, help="random split halves (default: 100; 0: skip)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the split halves (default: 0)")
        parser.add_argument(
            "--no-reliability",
            dest="reliability",
            action="store_false",
            help="skip the population model's reliability (a Gibbs sampler: seconds on thousands of items)",
        )
        parser.add_argument(
            "--strict",
            action="store_true",
            help="refuse rows comparing an item with itself and designs split into disconnected groups "
            "(default: skip such rows, fit each group on its own scale, and say so)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            data = read_judgements(path, skip_self_comparisons=not options["strict"])
        except JudgementFileError as exc:
            raise CommandError(f"{path}: {exc}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path}: not UTF-8 text") from None
        if data.first.size == 0:
            raise CommandError(f"{path}: the file holds a header but no judgements")
        try:
            fit = fit_bt(
                data.first,
                data.second,
                data.outcome,
                n_items=data.n_items,
                order_effect=data.has_first_shown,
                allow_disconnected=not options["strict"],
            )
        except DisconnectedComparisonsError as exc:
            sizes = sorted(np.bincount(exc.labels).tolist(), reverse=True)
            raise CommandError(
                f"{path}: the comparisons form {len(sizes)} disconnected groups of items (sizes {sizes[:10]}"
                f"{' ...' if len(sizes) > 10 else ''}); their θ cannot share one scale. "
                "Add comparisons between the groups, or drop --strict to fit each group on its own scale."
            ) from None
        if data.skipped_lines:
            lines = ", ".join(str(n) for n in data.skipped_lines[:10]) + (" ..." if len(data.skipped_lines) > 10 else "")
            self.stderr.write(f"Warning: skipped {len(data.skipped_lines)} rows comparing an item with itself (lines {lines})")
        split = self._split_half(data, options)
        population = (
            fit_population(
                data.first,
                data.second,
                data.outcome,
                n_items=data.n_items,
                in_population=np.ones(data.n_items, dtype=bool),
                order_effect=data.has_first_shown,
                seed=options["seed"],
            )
            if options["reliability"]
            else None
        )
        items = self._items(data, fit)
        if options["out"]:
            self._write_csv(options["out"], items)
        if options["json"]:
            self.stdout.write(json.dumps(self._summary(data, fit, split, items, population)))
        else:
            self._print(path, data, fit, split, items, population, to_file=options["out"])

    def _split_half(self, data: Judgements, options: dict[str, Any]) -> Any:
        if options["split_halves"] == 0:
            return None
        judges = data.judge_ids if data.judge_ids and len(set(data.judge_ids)) >= 2 else None
        return split_half_reliability(
            data.first,
            data.second,
            data.outcome,
            n_items=data.n_items,
            judges=judges,
            n_splits=options["split_halves"],
            seed=options["seed"],
        )

    def _items(self, data: Judgements, fit: BTFit) -> list[dict[str, Any]]:
        order = np.argsort(-fit.theta, kind="stable")
        ranks = np.empty(data.n_items, dtype=np.int64)
        ranks[order] = np.arange(1, data.n_items + 1)
        return [
            {
                "id": item_id,
                "theta": _json_number(fit.theta[i]),
                "se": _json_number(fit.se[i]),
                "infit": _json_number(fit.infit[i]),
                "outfit": _json_number(fit.outfit[i]),
                "comparisons": int(fit.comparisons[i]),
                "rank": int(ranks[i]),
                **({"component": int(fit.components[i])} if fit.n_components > 1 else {}),
            }
            for i, item_id in enumerate(data.item_ids)
        ]

    def _summary(
        self, data: Judgements, fit: BTFit, split: Any, items: list[dict[str, Any]], population: PopulationFit | None
    ) -> dict[str, Any]:
        return {
            "items": sorted(items, key=lambda item: item["rank"]),
            "reliability": None if population is None else _json_number(population.reliability),
            "population_sd": None if population is None else _json_number(population.population_sd),
            "ssr": _json_number(fit.ssr),
            "ssr_sirt": _json_number(fit.ssr_sirt),
            "separation": _json_number(fit.separation),
            "n_items": data.n_items,
            "n_comparisons": int(data.first.size),
            "n_components": fit.n_components,
            "skipped_lines": list(data.skipped_lines),
            "split_half": None
            if split is None
            else {
                "mean_correlation": _json_number(split.mean_correlation),
                "spearman_brown": _json_number(split.spearman_brown),
                "n_splits": split.n_splits,
                "split_by": split.split_by,
                "seed": split.seed,
            },
            "position_bias": None
            if not data.has_first_shown
            else {
                "order_effect": _json_number(fit.order_effect),
                "order_effect_se": _json_number(fit.order_effect_se),
                "p_first_wins": _json_number(fit.p_first_wins),
            },
            "converged": fit.converged,
        }

    def _write_csv(self, path: Path, items: list[dict[str, Any]]) -> None:
        try:
            with path.open("w", newline="", encoding="utf-8") as handle:
                columns = [*ITEM_COLUMNS, "component"] if items and "component" in items[0] else ITEM_COLUMNS
                writer = csv.DictWriter(handle, fieldnames=columns)
                writer.writeheader()
                writer.writerows(sorted(items, key=lambda item: item["rank"]))
        except OSError as exc:
            raise CommandError(f"--out {path}: cannot write ({exc.strerror})") from None

    def _print(
        self,
        path: Path,
        data: Judgements,
        fit: BTFit,
        split: Any,
        items: list[dict[str, Any]],
        population: PopulationFit | None,
        *,
        to_file: Path | None,
    ) -> None:
        write = self.stdout.write
        write(f"{path.name}: {data.n_items} items, {data.first.size} comparisons" + ("" if fit.converged else " (NOT converged)"))
        if population is not None:
            write(
                f"Reliability: {_fmt_number(population.reliability)} (population model: the share of the spread in θ "
                "that is real, an estimate of the squared correlation with the true quality, honest on adaptive designs too)"
            )
        write(
            f"Scale separation reliability (SSR): {fit.ssr:.3f} from the full-information SE "
            f"(sirt::btm's definition: {fit.ssr_sirt:.3f}); separation G: {fit.separation:.2f}"
        )
        if split is not None:
            write(
                f"Split-half reliability ({split.n_splits} splits by {split.split_by}, seed {split.seed}): "
                f"mean r = {split.mean_correlation:.3f}, Spearman–Brown {split.spearman_brown:.3f}"
            )
        if data.has_first_shown:
            write(
                f"Position bias: first shown won {fit.p_first_wins:.1%}; order effect {fit.order_effect:+.3f} "
                f"± {fit.order_effect_se:.3f} logits (removed from θ)"
            )
        else:
            write("Position bias: unknown (no first_shown column)")
        if fit.n_components > 1:
            write(
                f"Warning: the comparisons form {fit.n_components} disconnected groups; each is fitted on its own scale "
                "(θ centred within its group), so θ is not comparable across groups (see the component of each item)"
            )
        if to_file:
            write(f"Per-item results written to {to_file}")
            return
        write("")
        write(f"{'rank':>5}  {'id':<24} {'theta':>8} {'se':>6} {'infit':>6} {'outfit':>6} {'comp':>5}")
        for item in sorted(items, key=lambda item: item["rank"]):
            write(
                f"{item['rank']:>5}  {item['id'][:24]:<24} {item['theta']:>8.3f} {item['se']:>6.3f} "
                f"{_fmt(item['infit'])} {_fmt(item['outfit'])} {item['comparisons']:>5}"
                + (f"  group {item['component']}" if "component" in item else "")
            )


def _fmt_number(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "not available (fewer than three items compared)"


def _fmt(value: float | None) -> str:
    return f"{value:>6.2f}" if value is not None else "     -"
