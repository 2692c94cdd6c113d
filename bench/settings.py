"""Settings for `make bench`: production, plus plain HTTP to the provider sandbox on loopback."""

from __future__ import annotations

from cardreveal.settings.production import *  # noqa: F403

# The sandbox speaks plain HTTP on 127.0.0.1; production refuses any provider URL that is not
# https://. This is the one difference from production, and it lives only in this bench module.
CARDREVEAL_ALLOW_LOOPBACK_HTTP = True
