"""Settings for `make bench`: production, plus plain HTTP to the provider sandbox on loopback."""

from __future__ import annotations

import os

from cardreveal.settings.production import *  # noqa: F403

# The sandbox speaks plain HTTP on 127.0.0.1; production refuses any provider URL that is not
# https://. This is the one difference from production in the load runs, and it lives only here.
CARDREVEAL_ALLOW_LOOPBACK_HTTP = True

# The instruction counter's gunicorn runs serve the floor page too (bench/floor_urls.py).
if os.environ.get("CARDREVEAL_BENCH_URLCONF"):
    ROOT_URLCONF = "bench.floor_urls"
