"""`manage.py create_webhook_secret`: the secret on stdout, once, and nothing else there."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from webhooks.selectors import webhook_signing_secrets

pytestmark = pytest.mark.django_db


def test_the_command_prints_a_new_secret_once_and_rotates_with_an_overlap(owner):
    out, err = StringIO(), StringIO()
    call_command("create_webhook_secret", "owner", stdout=out, stderr=err)
    first = out.getvalue().strip()
    assert first.startswith("whsec_") and "\n" not in first and first not in err.getvalue()
    out = StringIO()
    call_command("create_webhook_secret", "owner", "--overlap-hours", "0", stdout=out, stderr=StringIO())
    assert webhook_signing_secrets(owner_id=owner.pk) == [out.getvalue().strip()]


def test_the_command_names_what_is_wrong(owner):
    with pytest.raises(CommandError, match="no user 'nobody'"):
        call_command("create_webhook_secret", "nobody", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="--overlap-hours"):
        call_command("create_webhook_secret", "owner", "--overlap-hours", "1000", stdout=StringIO(), stderr=StringIO())
