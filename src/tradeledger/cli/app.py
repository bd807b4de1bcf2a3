"""The ``tradeledger`` typer application; command groups register themselves here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tradeledger",
    help=(
        "Persistence for algorithmic trading: inspect, check, back up and migrate a "
        "tradeledger (or freqtrade) database.\n\n"
        "Exit codes: 0 ok, 1 failure, 2 usage, 3 bad URL, 4 missing driver or optional "
        "package, 5 database unavailable, 6 schema newer than this code, 7 schema error, "
        "8 mode mismatch, 9 bad input, 10 check found problems, 11 missing file."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(ctx: typer.Context) -> None:
    # every change a command makes is recorded as actor "cli" in the audit journal
    from tradeledger.services.journal import journal_actor

    ctx.with_resource(journal_actor("cli"))
