# A reveal record is opened (pending) before its provider is asked and completed after: the
# completion is the second link of the chain it takes.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0006_reveal_switch_moves_to_cards"),
    ]

    operations = [
        migrations.AddField(
            model_name="revealevent",
            name="completed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="revealevent",
            name="completion_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="revealevent",
            name="completion_prev_hash",
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="revealevent",
            name="completion_seq",
            field=models.PositiveBigIntegerField(
                blank=True,
                editable=False,
                help_text="The completion's link.",
                null=True,
                unique=True,
            ),
        ),
        migrations.AlterField(
            model_name="revealevent",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("revealed", "Revealed"),
                    ("refused", "Refused"),
                    ("failed", "Failed"),
                    ("pending", "Outcome not recorded"),
                ],
                max_length=10,
            ),
        ),
    ]
