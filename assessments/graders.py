"""The "Graders" group: exactly the permissions a teacher needs in the admin, and nothing more.

Graders are staff users in this group. They manage their own assignments (and anchors), create,
start, watch and act on their own batches, and read their essays and comparisons. Which rows they
see is the admin's business (querysets filtered by owner); this module only grants the model
permissions. The group is (re)created after every `migrate` and by `manage.py cj_graders`.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group, Permission

GRADERS_GROUP = "Graders"

# (app label, codename). Batches: "add" creates one, "change" runs its actions (start, cancel,
# continue, rescore), "delete" removes one that has not started or has ended, with its essays and
# comparisons (the admin refuses a running one). Essays and comparisons are written by the flow
# only: graders read them.
GRADER_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("assessments", "view_assignment"),
    ("assessments", "add_assignment"),
    ("assessments", "change_assignment"),
    ("assessments", "delete_assignment"),
    ("assessments", "view_anchoressay"),
    ("assessments", "add_anchoressay"),
    ("assessments", "change_anchoressay"),
    ("assessments", "delete_anchoressay"),
    ("assessments", "view_batch"),
    ("assessments", "add_batch"),
    ("assessments", "change_batch"),
    ("assessments", "delete_batch"),
    ("assessments", "view_essay"),
    ("assessments", "view_comparison"),
    # Their own webhook secrets (added: the value shown once) and the delivery log of their notices.
    ("webhooks", "view_webhooksecret"),
    ("webhooks", "add_webhooksecret"),
    ("webhooks", "view_webhookdelivery"),
)


def graders_group_ensure() -> Group:
    """Create the group if missing and set its permissions to exactly `GRADER_PERMISSIONS`."""
    wanted = set(GRADER_PERMISSIONS)
    candidates = Permission.objects.filter(
        content_type__app_label__in={app for app, _ in wanted}, codename__in={codename for _, codename in wanted}
    ).select_related("content_type")
    permissions = [p for p in candidates if (p.content_type.app_label, p.codename) in wanted]
    missing = {codename for _, codename in wanted} - {p.codename for p in permissions}
    if missing:
        raise Permission.DoesNotExist(f"permissions not created yet (run migrate): {', '.join(sorted(missing))}")
    group, _ = Group.objects.get_or_create(name=GRADERS_GROUP)
    group.permissions.set(permissions)
    return group


def grader_add(*, user: Any) -> None:
    """Make a user a grader: staff (so the admin lets them in) and a member of the group."""
    group = graders_group_ensure()
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(group)


def graders_group_after_migrate(sender: Any, **kwargs: Any) -> None:
    """`post_migrate` handler: the group exists (with its permissions) after every `migrate`."""
    graders_group_ensure()
