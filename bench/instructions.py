"""Instructions per request, counted by valgrind's callgrind: a cost that does not move with the
machine's speed, so two versions of the code can be compared on a noisy machine.

    python -m bench.run_bench --instructions          (`make bench-instructions`)

bench/run_bench.py seeds the database, starts the sandbox and the SMTP sink, signs the cardholders
in, then bench/instruction_counts.py runs this module once per kind of request under

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=starmap_next

Only the measured requests run inside `itertools.starmap` (nothing in the app, Django or the
libraries it calls uses starmap), so callgrind counts exactly their instructions: start-up,
warm-up and set-up are left out. The count covers every thread of the Django process while a
measured request runs, and nothing of PostgreSQL, Redis, the sandbox or the mail sink, which are
other processes. Kinds:

- `reveal`: complete reveals (session, OTP check, quota, provider call, sealing, audit record),
  one per cardholder with a fresh code; the receipt is queued, as in the app, not sent;
- `receipt`: sending queued receipts over SMTP, one batch of `--count`, as the app's background
  sender does under load (per receipt: the batch's cost over its size);
- `list`: the card list (`GET /`);
- `floor`: a signed-in page that does nothing (`bench/floor_urls.py`).

bench/instruction_counts.py also counts the card list, the floor and the reveal through gunicorn
itself (`list-served`, `floor-served`, `reveal-served`), by the difference between a short and a
long run.

Counts are repeatable to well under 1 % between runs of the same code (callgrind counts what
the CPU is asked to do, not how long it takes), but hash seeds, clocks and random values still
move them a little; PYTHONHASHSEED is fixed by the runs. The instructions differ from time:
one cache miss costs as much as hundreds of instructions, and C code runs at more instructions
per cycle than the interpreter. Compare code with this, and the machine with `make bench`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.client_key import client_key
from bench.profile_requests import FORM
from bench.totp import totp

KINDS = ("reveal", "receipt", "list", "floor")
TOGGLE = "starmap_next"


def counted(calls: list[Any]) -> list[Any]:
    """Run `calls` where callgrind counts (inside `itertools.starmap`); return their results."""
    return list(itertools.starmap(lambda call: call(), ((call,) for call in calls)))


def main() -> None:
    parser = argparse.ArgumentParser(description="Run requests for callgrind to count.")
    parser.add_argument("--sessions", type=Path, required=True)
    parser.add_argument("--kind", choices=KINDS, required=True)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--out", type=Path, required=True, help="JSON: what ran and its statuses")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test import Client

    # Receipts stay queued (a sender process would send them); `receipt` sends them itself.
    settings.CARDREVEAL_RECEIPTS_IN_BACKGROUND = True
    settings.CARDREVEAL_RECEIPTS_SENDER = "process"
    settings.ROOT_URLCONF = "bench.floor_urls"

    sessions = json.loads(args.sessions.read_text())["sessions"]
    # A reveal uses a cardholder's code once: one cardholder per reveal, four more to warm up.
    needed = args.count + 4 if args.kind in ("reveal", "receipt") else 5
    if len(sessions) < needed:
        raise SystemExit(f"need {needed} signed-in cardholders, have {len(sessions)}")
    _, public_key = client_key()
    client = Client(
        HTTP_HOST="127.0.0.1",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_ORIGIN="https://127.0.0.1",
        enforce_csrf_checks=True,
    )
    kinds = sorted(sessions[0]["cards"])

    def signed_in(session: dict[str, Any]) -> Client:
        client.cookies.clear()
        client.cookies["__Host-sessionid"] = session["sessionid"]
        client.cookies["__Host-csrftoken"] = session["csrftoken"]
        return client

    def reveal(session: dict[str, Any], kind: str) -> int:
        card = session["cards"][kind]
        form = {
            # Computed as late as possible: under valgrind a reveal takes a second or more, and
            # the bench's authenticators step every second (one step of drift is accepted).
            "otp_code": totp(session["totp_key"], time.time()),
            "public_key": public_key,
            "csrfmiddlewaretoken": session["csrftoken"],
        }
        page = signed_in(session)
        # Posted as static/js/reveal.js posts it: a plain form, not multipart.
        response = page.post(
            f"/cards/{card['id']}/reveal", urlencode(form), content_type=FORM, secure=True
        )
        return response.status_code

    # Warm up as a running worker is: templates and URLs loaded, one reveal per provider (keys
    # parsed, pooled connection open, Thredd's token fetched), the database connection open.
    warm = sessions[-len(kinds) :]
    for session in warm:
        signed_in(session).get("/", secure=True)
    warm_statuses = [reveal(session, kind) for session, kind in zip(warm, kinds, strict=True)]
    if set(warm_statuses) != {200}:
        raise SystemExit(f"warm-up reveals failed: {warm_statuses}")

    used = sessions[: args.count]
    statuses: list[int]
    if args.kind == "reveal":
        plan = [(session, kinds[i % len(kinds)]) for i, session in enumerate(used)]
        statuses = counted([lambda s=session, k=kind: reveal(s, k) for session, kind in plan])
    elif args.kind == "receipt":
        from cardreveal.audit.models import ReceiptOutbox
        from cardreveal.audit.receipts import receipts_send_all_due, receipts_send_due

        receipts_send_all_due()  # what earlier runs left, so the batch holds only these
        queued = [reveal(session, kinds[i % len(kinds)]) for i, session in enumerate(used)]
        if set(queued) != {200}:
            raise SystemExit(f"reveals to queue receipts failed: {queued}")
        handled = counted([lambda: receipts_send_due(limit=args.count)])[0]
        left = ReceiptOutbox.objects.count()
        statuses = [200] * handled if left == 0 else [500] * args.count
    else:
        path = "/" if args.kind == "list" else "/bench/floor"
        page = signed_in(used[0])
        statuses = counted([lambda: page.get(path, secure=True).status_code] * args.count)
    args.out.write_text(json.dumps({"kind": args.kind, "count": args.count, "statuses": statuses}))
    if set(statuses) != {200} or len(statuses) != args.count:
        raise SystemExit(f"{args.kind}: not every request succeeded: {statuses}")


if __name__ == "__main__":
    main()
