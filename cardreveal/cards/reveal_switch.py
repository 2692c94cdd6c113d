"""Reads of the global reveal switch (`RevealSwitch`): fresh on every reveal, never cached, so an
admin's pause holds at once on every worker."""

from __future__ import annotations

from typing import Any

from django.db.models import BooleanField, Expression

from cardreveal.cards.models import RevealSwitch


class RevealsPaused(Expression):
    """`EXISTS (the switch row, with reveals off)`, compiled straight to its SQL.

    The same as `Exists(RevealSwitch.objects.filter(pk=..., reveals_enabled=False))`, whose
    compilation (a subquery resolved and copied) cost more CPU on every reveal than the
    rest of the card query it sits in. Quoted by the compiler, so it holds on any backend.
    """

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[str | int, ...]]:
        quote = compiler.quote_name_unless_alias
        meta = RevealSwitch._meta
        enabled = meta.get_field("reveals_enabled").column
        # Only the model's own, quoted names go into the text; the one value is a parameter.
        return (
            f"EXISTS (SELECT 1 FROM {quote(meta.db_table)} WHERE {quote(meta.pk.column)} = %s "  # noqa: S608
            f"AND NOT {quote(enabled)})",
            (RevealSwitch.SINGLETON_ID,),
        )


def reveals_paused_expression() -> RevealsPaused:
    """True while an admin has paused reveals for everyone, as an expression another query can
    select (`cards.selectors.card_for_reveal`), so the switch costs no round trip of its own.
    Read fresh by that query, never cached, like `reveals_globally_enabled`."""
    return RevealsPaused()


def reveals_globally_enabled() -> bool:
    """False while an admin has paused reveals for everyone (the global switch). One query, no
    cache, so a change holds on every worker at the next reveal. No row means on."""
    enabled = (
        RevealSwitch.objects.filter(pk=RevealSwitch.SINGLETON_ID)
        .values_list("reveals_enabled", flat=True)
        .first()
    )
    return enabled is not False
