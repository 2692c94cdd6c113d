# The global reveal switch moves from the audit app to cards: it gates reveals and records nothing.
# Its table is made here and the switch's row copied over, so a paused deployment stays paused;
# audit's 0006 then drops the old table. Backwards, the row is copied back before this table goes.

from django.db import migrations, models


def copy_switch(source, target, alias):
    for row in source.objects.using(alias).all():
        target.objects.using(alias).update_or_create(
            pk=row.pk, defaults={"reveals_enabled": row.reveals_enabled, "note": row.note}
        )
        # updated_at is auto_now, stamped by the save above: put back when an admin last changed it.
        target.objects.using(alias).filter(pk=row.pk).update(updated_at=row.updated_at)


def copy_switch_from_audit(apps, schema_editor):
    copy_switch(
        apps.get_model("audit", "RevealSwitch"),
        apps.get_model("cards", "RevealSwitch"),
        schema_editor.connection.alias,
    )


def copy_switch_back_to_audit(apps, schema_editor):
    copy_switch(
        apps.get_model("cards", "RevealSwitch"),
        apps.get_model("audit", "RevealSwitch"),
        schema_editor.connection.alias,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("cards", "0001_initial"),
        ("audit", "0005_chain_head_prev_hash"),
    ]

    operations = [
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
            options={
                "verbose_name": "global reveal switch",
            },
        ),
        migrations.RunPython(copy_switch_from_audit, copy_switch_back_to_audit),
    ]
