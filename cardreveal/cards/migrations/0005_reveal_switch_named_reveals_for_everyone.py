# The global reveal switch is named for what it does: "reveals for everyone", on or paused (admin only).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("cards", "0004_disown_report_and_provider_lock"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="revealswitch",
            options={
                "verbose_name": "reveals for everyone",
                "verbose_name_plural": "reveals for everyone",
            },
        ),
        migrations.AlterField(
            model_name="revealswitch",
            name="reveals_enabled",
            field=models.BooleanField(
                default=True,
                help_text="Untick to pause CVV reveals for every card and every user, at once; tick to let them start again.",
                verbose_name="reveals on for everyone",
            ),
        ),
    ]
