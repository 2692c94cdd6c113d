"""The audit hash chain's cost: appends per second (one writer, and N concurrent writers on
PostgreSQL), and records per second `verify_audit` walks.

python -m bench.audit_chain [--records 5000] [--writers 8]      (SQLite in memory)
DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench python -m bench.audit_chain

Uses the test settings and a throwaway test database (created and dropped); talks to nothing else.
"""

from __future__ import annotations

import argparse
import os
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--writers", type=int, default=8)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cardreveal.settings.test")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from cardreveal.audit.chain import chain_verify
    from cardreveal.audit.models import AuthEvent
    from cardreveal.audit.services import auth_event_record
    from cardreveal.client_info import ClientInfo

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    client = ClientInfo(ip="198.51.100.7", user_agent="bench", request_id="bench", channel="web")

    def append(n: int) -> None:
        for i in range(n):
            auth_event_record(
                event=AuthEvent.Event.LOGIN_FAILED,
                outcome=AuthEvent.Outcome.FAILURE,
                username=f"user{i}",
                reason="unknown_user",
                client=client,
            )

    try:
        started = time.perf_counter()
        append(args.records)
        elapsed = time.perf_counter() - started
        print(
            f"{connection.vendor}: one writer, {args.records} appends in {elapsed:.2f} s = "
            f"{args.records / elapsed:,.0f}/s ({elapsed / args.records * 1000:.2f} ms each)"
        )
        if connection.vendor == "postgresql":
            each = max(1, args.records // args.writers)
            barrier = threading.Barrier(args.writers)

            def writer() -> None:
                from django.db import connection as own

                barrier.wait()
                append(each)
                own.close()

            threads = [threading.Thread(target=writer) for _ in range(args.writers)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            total = each * args.writers
            print(
                f"{connection.vendor}: {args.writers} writers, {total} appends in {elapsed:.2f} s"
                f" = {total / elapsed:,.0f}/s"
            )
        started = time.perf_counter()
        report = chain_verify(AuthEvent)
        elapsed = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(f"the chain is broken: {report.problem}")
        print(
            f"{connection.vendor}: verify walked {report.records} records in {elapsed:.2f} s = "
            f"{report.records / elapsed:,.0f}/s"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
