# Cards get the bank's id, and one card per provider reference on a binding becomes a database rule.

import json

from django.conf import settings
from django.db import migrations, models


def fill_reference_keys(apps, schema_editor):
    """Each card's reference in canonical form; two cards already sharing one stop the migration
    with their ids (the admin refused that before, so only data written around it can)."""
    card_model = apps.get_model("cards", "Card")
    seen = {}
    for card in card_model.objects.only("pk", "binding_id", "reference").iterator(chunk_size=2000):
        reference = card.reference
        key = (
            json.dumps(reference, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            if isinstance(reference, dict) and reference
            else ""
        )
        if key:
            other = seen.setdefault((card.binding_id, key), card.pk)
            if other != card.pk:
                raise RuntimeError(
                    f"Cards {other} and {card.pk} have the same provider reference on one binding; "
                    "change or delete one of them in the admin, then migrate again."
                )
        card_model.objects.filter(pk=card.pk).update(reference_key=key)


class Migration(migrations.Migration):
    dependencies = [
        ("cards", "0006_binding_issuer_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="card",
            name="external_id",
            field=models.CharField(
                blank=True,
                help_text="The bank's own id for this card, when provisioned by the bank's systems.",
                max_length=100,
                null=True,
                unique=True,
                verbose_name="bank's id",
            ),
        ),
        migrations.AddField(
            model_name="card",
            name="reference_key",
            field=models.CharField(blank=True, default="", editable=False, max_length=1000),
        ),
        migrations.RunPython(fill_reference_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="card",
            constraint=models.UniqueConstraint(
                condition=models.Q(("reference_key", ""), _negated=True),
                fields=("binding", "reference_key"),
                name="card_reference_unique_per_binding",
                violation_error_message="This reference is already used by another card on this binding: at the provider it is one card.",
            ),
        ),
    ]
