"""The graders' interface in the Django admin: `site` (the ModelAdmins, registered on import),
`forms` (uploads, the batch form), `views` (what the pages say in words), `lockout` (failed logins)."""

from assessments.admin import lockout, site  # noqa: F401 - registers the ModelAdmins and the login lockout
