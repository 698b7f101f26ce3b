"""Per-owner webhook secrets, one row per notice and one per delivery attempt (issue #13)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('message_id', models.CharField(help_text='The webhook-id header: the same on every retry.', max_length=64, unique=True)),
                ('event', models.CharField(max_length=64)),
                ('subject_kind', models.CharField(help_text='What the notice is about: batch or comparison.', max_length=32)),
                ('subject_id', models.BigIntegerField()),
                ('url', models.URLField(max_length=2000)),
                ('body', models.TextField(help_text='The JSON body, byte for byte as every attempt sends it.')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_deliveries', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'webhook delivery',
                'verbose_name_plural': 'webhook deliveries',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('at', models.DateTimeField()),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('error', models.CharField(blank=True, help_text='refused_url, unreachable, timeout, tls, bad_response, no_secret', max_length=32)),
                ('duration_ms', models.PositiveIntegerField(default=0)),
                ('delivered', models.BooleanField(default=False)),
                ('next_attempt_at', models.DateTimeField(blank=True, help_text='When it is tried again; empty: not again.', null=True)),
                ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='webhooks.webhookdelivery')),
            ],
            options={
                'ordering': ['delivery_id', 'number'],
            },
        ),
        migrations.CreateModel(
            name='WebhookSecret',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('secret', models.CharField(editable=False, max_length=100)),
                ('prefix', models.CharField(editable=False, help_text="The secret's first characters, to tell secrets apart.", max_length=16)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('expires_at', models.DateTimeField(blank=True, help_text='Empty: signs until replaced.', null=True)),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_secrets', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'webhook secret',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['owner', 'subject_kind', 'subject_id'], name='webhookdelivery_subject_idx'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['status', 'next_attempt_at'], name='webhookdelivery_due_idx'),
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'delivered', 'failed'])), name='webhookdelivery_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'pending'), ('next_attempt_at__isnull', False)), models.Q(models.Q(('status', 'pending'), _negated=True), ('next_attempt_at__isnull', True)), _connector='OR'), name='webhookdelivery_next_attempt_iff_pending'),
        ),
        migrations.AddConstraint(
            model_name='webhookattempt',
            constraint=models.UniqueConstraint(fields=('delivery', 'number'), name='webhookattempt_number_unique_per_delivery'),
        ),
        migrations.AddConstraint(
            model_name='webhookattempt',
            constraint=models.CheckConstraint(condition=models.Q(('status_code__isnull', False), models.Q(('error', ''), _negated=True), _connector='OR'), name='webhookattempt_status_or_error'),
        ),
    ]
