"""Settings of the app server and the commands the crash tests run as separate processes: the
test settings with the secret key and field keys taken from the environment (so the server can
read the provider credentials the seeding process encrypted) and a provider deadline longer than
a database crash and restart take."""

from __future__ import annotations

import os

from cardreveal.settings.test import *  # noqa: F403

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
CARDREVEAL_FIELD_KEYS = os.environ["CARDREVEAL_FIELD_KEYS"].split(",")
# The test holds the provider's answer while it crashes and restarts PostgreSQL (seconds on a
# loaded machine); the reveal must still be waiting for it, not timed out, when it is released.
CARDREVEAL_PROVIDER_READ_TIMEOUT = 60.0
CARDREVEAL_PROVIDER_DEADLINE = 90.0
