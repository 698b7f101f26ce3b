"""Grade scales: ordered grade labels (lowest first) with an optional label below the lowest.

Built-in scales are looked up by name; an assignment may also define its own ordered list.
Pure Python: no Django import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class UnknownGradeError(ValueError):
    """A grade or a scale name that is not allowed; the message lists what is."""


@dataclass(frozen=True)
class GradeScale:
    name: str
    grades: tuple[str, ...]  # lowest → highest
    below_lowest: str | None = None  # e.g. "F" under the ENG5 legacy scale: not anchored, never projected

    def __post_init__(self) -> None:
        given = ", ".join(self.grades) or "none"
        if len(self.grades) < 2:
            raise UnknownGradeError(f"grade scale {self.name!r} needs at least two grades; given: {given}")
        if any(not g or g != g.strip() for g in self.grades):
            raise UnknownGradeError(f"grade scale {self.name!r} has an empty label or spaces around one; given: {given}")
        repeated = sorted({g for g in self.grades if self.grades.count(g) > 1})
        if repeated:
            raise UnknownGradeError(f"grade scale {self.name!r} names {', '.join(repeated)} more than once; given: {given}")
        if self.below_lowest is not None and self.below_lowest in self.grades:
            raise UnknownGradeError(f"grade scale {self.name!r}: below-lowest label {self.below_lowest!r} is also a grade")

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label a grade may take, the below-lowest one first when there is one."""
        return ((self.below_lowest,) if self.below_lowest else ()) + self.grades

    def index(self, grade: str) -> int:
        """Position of `grade` among `grades` (0 = lowest); raises with the valid labels listed."""
        try:
            return self.grades.index(grade)
        except ValueError:
            raise UnknownGradeError(
                f"unknown grade {grade!r} for scale {self.name!r}; valid grades: {', '.join(self.grades)}"
            ) from None

    def validate(self, grade: str) -> str:
        self.index(grade)
        return grade


BUILTIN_SCALES: dict[str, GradeScale] = {
    scale.name: scale
    for scale in (
        GradeScale("swedish_a_f", ("F", "E", "D", "C", "B", "A")),
        GradeScale("swedish_8_anchor", ("F", "E", "D", "D+", "C", "C+", "B", "A")),
        GradeScale("eng5_np_legacy_9_step", ("F+", "E-", "E+", "D-", "D+", "C-", "C+", "B", "A"), below_lowest="F"),
        GradeScale("eng5_np_national_9_step", tuple(str(n) for n in range(1, 10)), below_lowest="0"),
    )
}
CUSTOM_SCALE = "custom"


def get_scale(name: str, custom_grades: Sequence[str] | None = None) -> GradeScale:
    """A built-in scale by name, or `custom` with its own ordered labels (lowest first)."""
    if name == CUSTOM_SCALE:
        if not custom_grades:
            raise UnknownGradeError("a custom grade scale needs its ordered list of grades (lowest first)")
        return GradeScale(CUSTOM_SCALE, tuple(custom_grades))
    try:
        return BUILTIN_SCALES[name]
    except KeyError:
        valid = ", ".join([*BUILTIN_SCALES, CUSTOM_SCALE])
        raise UnknownGradeError(f"unknown grade scale {name!r}; valid scales: {valid}") from None
