"""`manage.py cj_batch`: show, cancel, rescore and continue from the command line."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from assessments import services
from tests.conftest import essays

pytestmark = pytest.mark.django_db(transaction=True)


def _run(*args):
    out = StringIO()
    call_command("cj_batch", *map(str, args), stdout=out)
    return json.loads(out.getvalue())


def test_it_shows_continues_and_rescores_a_batch(owner, settings):
    settings.CJ_RELIABILITY_TARGET = 0.99  # the budget, not the reliability, ends this batch
    batch = services.batch_create(owner=owner, request={"essays": essays(6)})
    services.batch_start(batch_id=batch.pk)
    shown = _run("show", batch.pk)
    assert (shown["state"], shown["end_reason"]) == ("completed", "budget_exhausted")
    continued = _run("continue", batch.pk, "--comparisons", "6")
    assert continued["planned"] == shown["planned"] + 6
    assert continued["succeeded"] == shown["succeeded"] + 6
    assert _run("rescore", batch.pk)["reliability"] == pytest.approx(continued["reliability"])


def test_it_explains_what_cannot_be_done(owner):
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    with pytest.raises(CommandError, match="already finished"):
        _run("cancel", batch.pk)
    with pytest.raises(CommandError, match="--comparisons is required"):
        _run("continue", batch.pk)
    with pytest.raises(CommandError, match="no batch 999999"):
        _run("show", 999999)
