"""`python manage.py create_api_token USERNAME [--name NAME] [--expires-days N] [--create-user] [--staff] [--rotate]`.

Creates a new API token and prints its key (and nothing else on stdout, so that `TOKEN=$(...)`
works). The key is shown this once: only its digest is stored, so an existing key cannot be
printed again. The admin's "API tokens" page creates and revokes tokens too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from assessments import services
from assessments.models import ApiToken


class Command(BaseCommand):
    help = "Create a REST API token for a user and print its key (shown once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the token is for (shown in the admin)")
        parser.add_argument("--expires-days", type=int, default=None, help="the token stops working after N days")
        parser.add_argument("--create-user", action="store_true", help="create the user (without a password) if missing")
        parser.add_argument("--staff", action="store_true", help="with --create-user: a superuser (sees every batch)")
        parser.add_argument("--rotate", action="store_true", help="revoke the user's other tokens (they stop working)")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        username = options["username"]
        days = options["expires_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-days: 1 or more")
        with transaction.atomic():
            user = users.objects.filter(username=username).first()
            if user is None:
                if not options["create_user"]:
                    raise CommandError(f"username: no user {username!r} (add --create-user to create one)")
                user = users.objects.create_user(username=username, is_staff=options["staff"], is_superuser=options["staff"])
                self.stderr.write(f"Created user {username!r}{' (superuser)' if options['staff'] else ''}.")
            if options["rotate"]:
                revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
                self.stderr.write(f"Revoked {revoked} token(s) of {username!r}.")
            expires_at = timezone.now() + timedelta(days=days) if days else None
            token, key = services.api_token_create(user=user, name=options["name"], expires_at=expires_at)
        self.stderr.write(f"New API token {token.prefix}… of {username!r} (shown once; store it now):")
        self.stdout.write(key)
