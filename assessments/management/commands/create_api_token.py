"""`python manage.py create_api_token USERNAME [--create-user] [--staff] [--rotate]`: an API token.

Prints the token key (and nothing else on stdout, so that `TOKEN=$(...)` works). The admin
(`/admin/authtoken/tokenproxy/`) creates and revokes tokens too.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print the REST API token of a user (created when missing)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="create the user (without a password) if missing")
        parser.add_argument("--staff", action="store_true", help="with --create-user: a superuser (sees every batch)")
        parser.add_argument("--rotate", action="store_true", help="replace an existing token (the old one stops working)")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model()
        username = options["username"]
        with transaction.atomic():
            user = users.objects.filter(username=username).first()
            if user is None:
                if not options["create_user"]:
                    raise CommandError(f"username: no user {username!r} (add --create-user to create one)")
                user = users.objects.create_user(username=username, is_staff=options["staff"], is_superuser=options["staff"])
                self.stderr.write(f"Created user {username!r}{' (superuser)' if options['staff'] else ''}.")
            if options["rotate"]:
                Token.objects.filter(user=user).delete()
            token, created = Token.objects.get_or_create(user=user)
        self.stderr.write(f"{'New' if created else 'Existing'} API token of {username!r}:")
        self.stdout.write(token.key)
