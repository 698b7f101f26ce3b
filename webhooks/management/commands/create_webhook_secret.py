"""`python manage.py create_webhook_secret USERNAME [--overlap-hours N]`.

Creates (or rotates) the user's webhook secret and prints it, and nothing else on stdout, so that
`SECRET=$(...)` works. It is shown this once: the admin and the API never show it again. The
user's other secrets keep signing for `--overlap-hours` (default 24; 0 stops them now).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks import services


class Command(BaseCommand):
    help = "Create or rotate a user's webhook signing secret and print it (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        default = int(services.ROTATION_OVERLAP.total_seconds() // 3600)
        parser.add_argument(
            "--overlap-hours", type=int, default=default, help=f"hours the user's other secrets keep signing (default {default})"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"username: no user {options['username']!r}")
        hours = options["overlap_hours"]
        most = int(services.ROTATION_OVERLAP_MAX.total_seconds() // 3600)
        if not 0 <= hours <= most:
            raise CommandError(f"--overlap-hours: from 0 to {most}")
        secret, value = services.webhook_secret_create(owner=user, overlap=timedelta(hours=hours))
        self.stderr.write(
            f"New webhook secret {secret.prefix}… of {user.get_username()!r} (shown once; store it with your receiver):"
        )
        self.stdout.write(value)
