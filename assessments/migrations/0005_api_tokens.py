"""API tokens hashed at rest; DRF's plain tokens are moved over (hashed) so integrators keep working."""

import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def hash_plain_tokens(apps, schema_editor):
    """Each DRF token becomes a hashed one with the same key; the plain rows are deleted."""
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("assessments", "ApiToken")
    for plain in Token.objects.all():
        ApiToken.objects.create(
            user_id=plain.user_id, name="migrated", prefix=plain.key[:10], digest=hashlib.sha256(plain.key.encode()).hexdigest()
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("assessments", "0004_worker_leases"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(help_text="What it is for, e.g. the integrating platform.", max_length=100)),
                ("prefix", models.CharField(editable=False, max_length=12)),
                ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField(blank=True, help_text="Empty: never expires.", null=True)),
                ("last_used_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.RunPython(hash_plain_tokens, migrations.RunPython.noop),
    ]
