"""The graders' interface in the Django admin: `site` (the ModelAdmins, registered on import),
`forms` (uploads, the batch form), `views` (what the pages say in words)."""

from assessments.admin import site  # noqa: F401 - registers the ModelAdmins
