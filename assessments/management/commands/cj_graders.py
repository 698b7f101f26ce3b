"""`python manage.py cj_graders [--add USERNAME ...]`: the "Graders" group, and who is in it.

The group is also created after every `migrate`; this command resets its permissions to exactly
the graders' set and makes the named users graders (staff, in the group).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assessments.graders import GRADER_PERMISSIONS, GRADERS_GROUP, grader_add, graders_group_ensure


class Command(BaseCommand):
    help = 'Create (or reset) the "Graders" group and optionally add users to it.'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--add", nargs="+", default=[], metavar="USERNAME", help="users to make graders")

    def handle(self, *args: Any, **options: Any) -> None:
        group = graders_group_ensure()
        self.stdout.write(f'Group "{GRADERS_GROUP}": {len(GRADER_PERMISSIONS)} permissions')
        users = get_user_model().objects
        unknown = [name for name in options["add"] if not users.filter(username=name).exists()]
        if unknown:
            raise CommandError(f"no such user: {', '.join(unknown)} (create them first: manage.py createsuperuser or the admin)")
        for name in options["add"]:
            grader_add(user=users.get(username=name))
            self.stdout.write(f"{name}: staff, in {group.name}")
