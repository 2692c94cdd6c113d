# The audit trail becomes a hash chain: RevealEvent gains seq/prev_hash/hash (existing rows are
# chained here, in id order), plain-id references that survive deletions, and AuthEvent joins it;
# also the single-use link register and the global reveal switch (its row made here, switched on).

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# Frozen copy of RevealEvent.HASHED_FIELDS as of this migration.
REVEAL_FIELDS_V1 = (
    "created_at",
    "user",
    "username",
    "card",
    "card_label",
    "requested_card_id",
    "channel",
    "outcome",
    "reason",
    "client_ip",
    "user_agent",
    "request_id",
    "provider_kind",
    "provider_latency_ms",
)


def chain_existing_reveal_events(apps, schema_editor):
    from cardreveal.audit.chain import GENESIS_HASH, record_hash

    RevealEvent = apps.get_model("audit", "RevealEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    prev_hash, seq = GENESIS_HASH, 0
    for event in RevealEvent.objects.order_by("id").iterator(chunk_size=2000):
        seq += 1
        event.seq = seq
        event.prev_hash = prev_hash
        event.hash = record_hash(event, chain="reveal", fields=REVEAL_FIELDS_V1)
        RevealEvent.objects.filter(pk=event.pk).update(
            seq=event.seq, prev_hash=event.prev_hash, hash=event.hash
        )
        prev_hash = event.hash
    AuditChainHead.objects.update_or_create(
        chain="reveal", defaults={"seq": seq, "hash": prev_hash}
    )
    RevealSwitch = apps.get_model("audit", "RevealSwitch")
    RevealSwitch.objects.get_or_create(id=1, defaults={"reveals_enabled": True})


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0001_initial"),
        ("cards", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="revealevent",
            name="user",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The user, by id; kept if they are deleted.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="revealevent",
            name="card",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The card, by id; kept if it is deleted.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="cards.card",
            ),
        ),
        migrations.AlterField(
            model_name="revealevent",
            name="created_at",
            field=models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, editable=False
            ),
        ),
        migrations.AddField(
            model_name="revealevent",
            name="seq",
            field=models.PositiveBigIntegerField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="revealevent",
            name="prev_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="revealevent",
            name="hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.CreateModel(
            name="AuditChainHead",
            fields=[
                ("chain", models.CharField(max_length=20, primary_key=True, serialize=False)),
                ("seq", models.PositiveBigIntegerField(default=0)),
                ("hash", models.CharField(default="0" * 64, max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="UsedLink",
            fields=[
                ("link_id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("purpose", models.CharField(max_length=30)),
                ("used_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name="RevealSwitch",
            fields=[
                (
                    "id",
                    models.PositiveSmallIntegerField(
                        default=1, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "reveals_enabled",
                    models.BooleanField(
                        default=True,
                        help_text="Untick to pause CVV reveals for every card and every user, at once.",
                    ),
                ),
                (
                    "note",
                    models.CharField(
                        blank=True,
                        help_text="Why reveals are paused (seen by admins only).",
                        max_length=200,
                    ),
                ),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={"verbose_name": "global reveal switch"},
        ),
        migrations.CreateModel(
            name="AuthEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "seq",
                    models.PositiveBigIntegerField(
                        editable=False,
                        help_text="Position in the hash chain, from 1, no gaps.",
                        unique=True,
                    ),
                ),
                ("prev_hash", models.CharField(editable=False, max_length=64)),
                ("hash", models.CharField(editable=False, max_length=64)),
                (
                    "created_at",
                    models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False
                    ),
                ),
                (
                    "username",
                    models.CharField(
                        blank=True,
                        help_text="As typed for a failed sign-in; kept if deleted.",
                        max_length=150,
                    ),
                ),
                (
                    "event",
                    models.CharField(
                        choices=[
                            ("login", "Signed in"),
                            ("login_failed", "Sign-in failed"),
                            ("logout", "Signed out"),
                            ("otp_failed", "Code refused"),
                            ("otp_replay_rejected", "Reused code refused"),
                            ("account_locked", "Account locked"),
                            ("account_unlocked", "Account unlocked"),
                            ("device_added", "Authenticator added"),
                            ("device_removed", "Authenticator removed"),
                            ("password_changed", "Password changed"),
                            ("admin_change", "Admin change"),
                            ("audit_exported", "Audit trail exported"),
                            ("reveal_disowned", "Reveal reported as not you"),
                        ],
                        max_length=30,
                    ),
                ),
                (
                    "outcome",
                    models.CharField(
                        choices=[("success", "Success"), ("failure", "Failure")], max_length=10
                    ),
                ),
                (
                    "reason",
                    models.CharField(blank=True, help_text="A stable code.", max_length=40),
                ),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("web", "Web"),
                            ("api", "API"),
                            ("admin", "Admin"),
                            ("system", "System"),
                        ],
                        max_length=10,
                    ),
                ),
                ("client_ip", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=300)),
                ("request_id", models.CharField(blank=True, max_length=64)),
                (
                    "resource",
                    models.CharField(
                        blank=True,
                        help_text="What it was about, e.g. card:<id>, device:totp/3.",
                        max_length=200,
                    ),
                ),
                (
                    "detail",
                    models.CharField(blank=True, help_text="Never a secret.", max_length=300),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        help_text="The user, by id; kept if they are deleted.",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [
                    models.Index(
                        fields=["user", "-created_at"], name="audit_authe_user_id_7ee947_idx"
                    )
                ],
            },
        ),
        migrations.RunPython(chain_existing_reveal_events, migrations.RunPython.noop),
    ]
