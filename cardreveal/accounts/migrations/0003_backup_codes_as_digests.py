"""Backup codes stored as typed (from before codes were stored as digests, or made with
django-otp's admin form or `addstatictoken`) are replaced by their keyed digests, so the stored
value never works as a code."""

import re

from django.conf import settings
from django.db import migrations
from django.utils.crypto import salted_hmac

# Frozen copies of cardreveal.accounts.otp's digest rules at the time of this migration.
_SALT = "cardreveal.accounts.backup-code"
_DIGEST = re.compile(r"^[0-9a-f]{16}$")


def _digest(code: str) -> str:
    typed = re.sub(r"[\s-]", "", code).lower()
    return salted_hmac(_SALT, typed, secret=settings.SECRET_KEY, algorithm="sha256").hexdigest()[
        :16
    ]


def backup_codes_to_digests(apps, schema_editor):
    static_token = apps.get_model("otp_static", "StaticToken")
    for pk, token in static_token.objects.values_list("pk", "token").iterator():
        if not _DIGEST.fullmatch(token):
            static_token.objects.filter(pk=pk).update(token=_digest(token))


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_code_back_off_count"),
        ("otp_static", "0003_add_timestamps"),
    ]

    operations = [
        # A digest cannot be turned back into its code: going back leaves the digests.
        migrations.RunPython(backup_codes_to_digests, migrations.RunPython.noop, elidable=False),
    ]
