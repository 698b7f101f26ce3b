"""The first admin pages load for staff and list what the flow wrote."""

import pytest

from assessments import services
from tests.conftest import essays

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_superuser_can_browse_a_finished_batch(owner, admin_client):
    batch = services.batch_create(owner=owner, request={"essays": essays(4)})
    services.batch_start(batch_id=batch.pk)
    for url in (
        "/admin/assessments/batch/",
        f"/admin/assessments/batch/{batch.pk}/change/",
        "/admin/assessments/comparison/",
        "/admin/assessments/essay/",
        "/admin/assessments/assignment/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert b"budget_exhausted" in admin_client.get("/admin/assessments/batch/").content


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get("/admin/assessments/batch/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
