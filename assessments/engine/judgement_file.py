"""Reading judgement CSV files (one comparative judgement per row) into arrays for scoring.

Owns the file format only: no Django, no database. A file has a header row naming the winner
and loser columns, either ``candidate_chosen,candidate_not_chosen`` or ``winner,loser``
(case-insensitive), and optionally ``judge`` and ``first_shown`` (which of the two ids was shown
first); other columns are ignored.

Position: with ``first_shown``, ``first`` is the item shown first and ``outcome`` says whether it
won. Without it the position is unknown, and ``first`` is the item of the pair that appears
earlier in ``item_ids`` (order of first appearance in the file): a choice that does not depend
on who won, so the outcome still varies, but which carries no information about position.
``has_first_shown`` is then False and the order effect must not be estimated.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np

WINNER_LOSER_HEADERS = (("candidate_chosen", "candidate_not_chosen"), ("winner", "loser"))


class JudgementFileError(ValueError):
    """A judgement file that cannot be read; the message names the line and the column."""

    def __init__(self, message: str, *, line: int, column: str | None = None) -> None:
        self.line = line
        self.column = column
        where = f"line {line}" + (f", column {column}" if column else "")
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Judgements:
    """The judgements of one file, as arrays that ``scoring.fit_bt`` takes."""

    item_ids: list[str]  # distinct ids, in order of first appearance
    first: np.ndarray  # int index into item_ids: the item shown first (see the module docstring)
    second: np.ndarray
    outcome: np.ndarray  # 1.0 when first won, 0.0 when second won
    judge_ids: list[str] | None  # one per judgement; None when the file has no judge column
    has_first_shown: bool  # False: positions are unknown, do not estimate an order effect
    line_numbers: np.ndarray  # the file line of each judgement (the header is line 1)
    skipped_lines: tuple[int, ...]  # self-comparisons skipped with skip_self_comparisons=True

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


def read_judgements(source: str | os.PathLike[str] | TextIO, *, skip_self_comparisons: bool = False) -> Judgements:
    """Read a judgement CSV file from a path or an open text stream.

    Steps:
    1. Read the header; find the winner/loser columns and the optional judge and first_shown.
    2. For each non-blank row: check the values are present, that winner and loser differ (or
       skip the row and record its line, with ``skip_self_comparisons``), and that first_shown
       names one of the two; give each new id the next index.
    3. Place each pair: shown-first item first when known, else the earlier-indexed item.
    Raises ``JudgementFileError`` naming the line (and column) of the first problem.
    """
    if isinstance(source, (str, os.PathLike)):
        with Path(source).open(newline="", encoding="utf-8-sig") as stream:
            return _read(stream, skip_self_comparisons=skip_self_comparisons)
    return _read(source, skip_self_comparisons=skip_self_comparisons)


def _read(stream: TextIO | io.TextIOBase, *, skip_self_comparisons: bool) -> Judgements:
    reader = csv.reader(stream)
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)  # leading blank lines
    if header is None:
        raise JudgementFileError("the file is empty; expected a header such as candidate_chosen,candidate_not_chosen", line=1)
    header_line = reader.line_num
    columns = _columns(header, line=header_line)
    winner_col, loser_col, judge_col, shown_col = columns
    names = [cell.strip().lstrip("\ufeff") for cell in header]

    index: dict[str, int] = {}
    item_ids: list[str] = []
    winners: list[int] = []
    losers: list[int] = []
    shown_first_is_winner: list[bool] = []
    judges: list[str] = []
    lines: list[int] = []
    skipped: list[int] = []

    def item(value: str) -> int:
        if value not in index:
            index[value] = len(item_ids)
            item_ids.append(value)
        return index[value]

    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            raise JudgementFileError(f"{len(row)} values but the header has {len(names)} columns", line=line)
        values = {name: (row[i].strip() if i < len(row) else "") for i, name in enumerate(names)}
        wanted = [winner_col, loser_col] + [c for c in (judge_col, shown_col) if c is not None]
        for column in wanted:
            if not values[column]:
                raise JudgementFileError("missing value", line=line, column=column)
        winner, loser = values[winner_col], values[loser_col]
        if winner == loser:
            if skip_self_comparisons:
                skipped.append(line)
                continue
            raise JudgementFileError(
                f"the same id {winner!r} is both {winner_col} and {loser_col}; an item cannot be compared with itself",
                line=line,
                column=loser_col,
            )
        if shown_col is not None:
            shown = values[shown_col]
            if shown not in (winner, loser):
                raise JudgementFileError(
                    f"{shown!r} is neither the {winner_col} {winner!r} nor the {loser_col} {loser!r}",
                    line=line,
                    column=shown_col,
                )
            shown_first_is_winner.append(shown == winner)
        winners.append(item(winner))
        losers.append(item(loser))
        if judge_col is not None:
            judges.append(values[judge_col])
        lines.append(line)

    if not winners:
        raise JudgementFileError("no judgements after the header", line=header_line + 1)

    winner_arr = np.asarray(winners, dtype=np.int64)
    loser_arr = np.asarray(losers, dtype=np.int64)
    # Without first_shown, the neutral choice: the earlier-indexed item of the pair goes first.
    known = shown_col is not None
    winner_first = np.asarray(shown_first_is_winner, dtype=bool) if known else winner_arr < loser_arr
    return Judgements(
        item_ids=item_ids,
        first=np.where(winner_first, winner_arr, loser_arr),
        second=np.where(winner_first, loser_arr, winner_arr),
        outcome=winner_first.astype(float),
        judge_ids=judges if judge_col is not None else None,
        has_first_shown=shown_col is not None,
        line_numbers=np.asarray(lines, dtype=np.int64),
        skipped_lines=tuple(skipped),
    )


def _columns(header: list[str], *, line: int) -> tuple[str, str, str | None, str | None]:
    """The winner, loser, judge and first_shown column names as spelled in the header."""
    spelled = {cell.strip().lstrip("\ufeff").lower(): cell.strip().lstrip("\ufeff") for cell in header}
    pairs = [(spelled[w], spelled[lo]) for w, lo in WINNER_LOSER_HEADERS if w in spelled and lo in spelled]
    found = ", ".join(cell.strip() for cell in header)
    if not pairs:
        raise JudgementFileError(
            f"the header needs the columns candidate_chosen,candidate_not_chosen or winner,loser; found: {found}",
            line=line,
        )
    if len(pairs) > 1:
        raise JudgementFileError(
            f"the header has both candidate_chosen,candidate_not_chosen and winner,loser; keep one pair (found: {found})",
            line=line,
        )
    lowered = [cell.strip().lstrip("\ufeff").lower() for cell in header]
    duplicated = {name for name in lowered if lowered.count(name) > 1 and name}
    if duplicated:
        raise JudgementFileError(f"the header repeats {', '.join(sorted(duplicated))}", line=line)
    winner_col, loser_col = pairs[0]
    return winner_col, loser_col, spelled.get("judge"), spelled.get("first_shown")
