"""`python -m cjproject.flower [FLOWER OPTIONS]`: Flower, which shows every task's arguments, started
only with a password (`FLOWER_BASIC_AUTH=user:password`); without one it refuses to start."""

from __future__ import annotations

import os
import sys


def basic_auth_problem(value: str) -> str | None:
    """Why FLOWER_BASIC_AUTH cannot protect Flower (None: it can). Flower takes `user:password[,user:password]`."""
    if not value:
        return "FLOWER_BASIC_AUTH is not set: Flower refuses to start without a password (set user:password)"
    for pair in value.split(","):
        user, _, password = pair.partition(":")
        if not user or not password:
            return "FLOWER_BASIC_AUTH must be user:password (comma-separated for several users)"
    return None


def main(argv: list[str]) -> int:
    problem = basic_auth_problem(os.environ.get("FLOWER_BASIC_AUTH", ""))
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    os.execv(sys.executable, [sys.executable, "-m", "celery", "-A", "cjproject", "flower", *argv])  # noqa: S606 - fixed program, no shell
    return 0  # pragma: no cover - execv does not return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
