# Every reveal event now has its place in the chain (0002 numbered the old ones): seq is required
# and unique from here on. A separate migration so that PostgreSQL alters the table in a fresh
# transaction, after 0002's row updates.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_hash_chain_and_account_events"),
    ]

    operations = [
        migrations.AlterField(
            model_name="revealevent",
            name="seq",
            field=models.PositiveBigIntegerField(
                editable=False,
                help_text="Position in the hash chain, from 1, no gaps.",
                unique=True,
            ),
        ),
    ]
