# The global reveal switch now lives in cards (cards' 0002 made its table and copied the row over).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0005_chain_head_prev_hash"),
        ("cards", "0002_reveal_switch_moves_from_audit"),
    ]

    operations = [
        migrations.DeleteModel(
            name="RevealSwitch",
        ),
    ]
