"""manage.py verify_audit: walk every audit hash chain and report the first broken link in each."""

from __future__ import annotations

import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cardreveal.audit.chain import chain_for, chain_models, chain_verify

_ANCHOR_RE = re.compile(r"^(?P<chain>[a-z]+):(?P<seq>[0-9]+):(?P<hash>[0-9a-f]{64})$")


class Command(BaseCommand):
    help = (
        "Recompute every link of the audit hash chains (reveal, auth). Exits 0 when all are "
        "intact, 1 naming the first broken link of each broken chain (an edited, deleted or "
        "inserted record). Prints each chain's head; keep it elsewhere and pass it back later "
        "with --anchor to detect a chain rewritten from that point."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--chain",
            action="append",
            default=[],
            help="Only this chain (reveal or auth); repeatable. Default: all.",
        )
        parser.add_argument(
            "--anchor",
            action="append",
            default=[],
            metavar="CHAIN:SEQ:HASH",
            help="A head printed by an earlier run, e.g. reveal:1042:9f86...; repeatable.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        anchors: dict[str, tuple[int, str]] = {}
        for raw in options["anchor"]:
            match = _ANCHOR_RE.fullmatch(raw.strip())
            if match is None:
                raise CommandError(
                    f"--anchor must look like reveal:1042:<64 hex digits>, not {raw!r}."
                )
            anchors[match["chain"]] = (int(match["seq"]), match["hash"])
        try:
            models = [chain_for(name) for name in options["chain"]] or chain_models()
            for name in anchors:
                chain_for(name)
        except LookupError as exc:
            raise CommandError(str(exc)) from None

        broken = []
        for model in models:
            report = chain_verify(model, anchor=anchors.get(model.CHAIN))
            if report.ok:
                self.stdout.write(
                    f"{report.chain}: OK, {report.links} links; "
                    f"head {report.chain}:{report.head_seq}:{report.head_hash}"
                )
            else:
                self.stdout.write(
                    f"{report.chain}: BROKEN after {report.links} intact links: {report.problem}"
                )
                broken.append(f"{report.chain}: {report.problem}")
        if broken:
            raise CommandError("Audit chain broken. " + " ".join(broken))
