"""Merge-only metadata: no writer loses another's keys, on PostgreSQL under real concurrency."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from assessments.metadata import metadata_append, metadata_merge
from assessments.models import Batch


@pytest.fixture
def batch(owner):
    return Batch.objects.create(owner=owner, processing_metadata={"original_request": {"essays": 2}})


@pytest.mark.django_db
def test_it_merges_keys_without_replacing_the_blob(batch):
    metadata_merge(instance=batch, values={"comparison_budget": {"max_pairs_requested": 10, "source": "default"}})
    stored = Batch.objects.get(pk=batch.pk).processing_metadata
    assert stored == {"original_request": {"essays": 2}, "comparison_budget": {"max_pairs_requested": 10, "source": "default"}}
    assert batch.processing_metadata == stored


@pytest.mark.django_db
def test_it_appends_to_a_list_and_creates_it_when_absent(batch):
    metadata_append(instance=batch, key="events", item={"event": "started"})
    metadata_append(instance=batch, key="events", item={"event": "round", "n": 1})
    assert Batch.objects.get(pk=batch.pk).processing_metadata["events"] == [{"event": "started"}, {"event": "round", "n": 1}]


@pytest.mark.django_db
def test_it_refuses_values_json_cannot_hold(batch):
    with pytest.raises(TypeError):
        metadata_merge(instance=batch, values={"when": object()})


def _hammer(batch_id, worker, count, action):
    try:
        batch = Batch.objects.get(pk=batch_id)
        for n in range(count):
            action(batch, worker, n)
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_eight_threads_merging_distinct_keys_lose_none(batch):
    assert connection.vendor == "postgresql", "make test runs this on PostgreSQL"

    def merge(b, worker, n):
        metadata_merge(instance=b, values={f"w{worker}-k{n}": n})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda w: _hammer(batch.pk, w, 100, merge), range(8)))
    stored = Batch.objects.get(pk=batch.pk).processing_metadata
    assert len([k for k in stored if k.startswith("w")]) == 800
    assert stored["original_request"] == {"essays": 2}


@pytest.mark.django_db(transaction=True)
def test_eight_threads_appending_lose_no_item(batch):
    def append(b, worker, n):
        metadata_append(instance=b, key="events", item=[worker, n])

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda w: _hammer(batch.pk, w, 50, append), range(8)))
    events = Batch.objects.get(pk=batch.pk).processing_metadata["events"]
    assert sorted(map(tuple, events)) == [(w, n) for w in range(8) for n in range(50)]


@pytest.mark.django_db
def test_not_a_number_is_stored_as_null(batch):
    metadata_merge(instance=batch, values={"scoring": {"ssr": float("nan"), "cuts": [1.0, float("inf")]}})
    metadata_append(instance=batch, key="decisions", item={"ssr": float("nan")})
    stored = Batch.objects.get(pk=batch.pk).processing_metadata
    assert stored["scoring"] == {"ssr": None, "cuts": [1.0, None]}
    assert stored["decisions"] == [{"ssr": None}]
