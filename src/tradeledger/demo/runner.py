"""The whole demo: trade, crash (SIGKILL), recover, reconcile, finish, analyse, plot.

1. A child process (``python -m tradeledger.demo.session``) runs the demo bot against the
   simulated exchange; the parent shows a progress bar from the child's ``STEP`` lines.
2. Midway the child stops right after the exchange accepted an order and before the answer is
   committed; the parent kills it with SIGKILL.
3. While the bot is down the market moves on (resting orders fill, stop-losses trigger).
4. The parent opens the database again: the recovery report lists open trades, open orders
   and the pending order intent; reconciliation against the exchange adopts the order of the
   intent and books the fills the bot missed.
5. A new child process finishes the session; the parent prints the performance tables and
   writes the equity / drawdown chart.

Databases: ``--fresh`` (default) starts from an empty database — a SQLite file is replaced,
a server database is emptied — but only when it holds nothing but demo trades (exchange
``demo``); anything else is refused. ``--append`` keeps what is there and adds a new session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select

from tradeledger.db import close_db, init_db, mask_url
from tradeledger.demo.bot import DEMO_EXCHANGE
from tradeledger.demo.exchange import SimExchange
from tradeledger.exceptions import TradeLedgerError

__all__ = ["DemoConfig", "DemoError", "DemoResult", "run_demo"]

STARTING_BALANCE = 10_000.0


class DemoError(TradeLedgerError):
    """The demo cannot run (e.g. ``--fresh`` on a database holding real trades)."""


@dataclass
class DemoConfig:
    """Options of :func:`run_demo`."""

    db_url: str
    seed: int = 42
    steps: int = 576
    #: Candle from which the first order sent is interrupted by SIGKILL (default: midway).
    crash_at: int | None = None
    #: Candles the market moves on while the bot is down.
    downtime: int = 6
    fresh: bool = True
    plot: Path | None = Path("tradeledger-demo.png")
    #: Where the simulated exchange keeps its state (default: next to a SQLite file, else cwd).
    exchange_file: Path | None = None
    progress: bool = True
    timeout: float = 600.0


@dataclass
class DemoResult:
    """What happened, for the caller (and the tests)."""

    db_url: str
    exchange_file: Path
    killed: bool = False
    killed_at_step: int | None = None
    crash_client_order_id: str | None = None
    recovery: dict[str, Any] = field(default_factory=dict)
    reconcile_differences: list[dict[str, Any]] = field(default_factory=list)
    reconcile_clean_after: bool = False
    trades: int = 0
    open_trades: int = 0
    orders: int = 0
    plot: Path | None = None
    plot_skipped: str | None = None
    events: list[str] = field(default_factory=list)


def _sqlite_path(db_url: str) -> Path | None:
    from tradeledger.cli.options import sqlite_file_of

    path = sqlite_file_of(db_url)
    return None if path is None else Path(path)


def _prepare_database(cfg: DemoConfig, out: Console) -> str:
    """Apply ``--fresh`` / ``--append`` (see the module docstring); return the order-id
    prefix of the new session (empty for a fresh database)."""
    from tradeledger.models import ModelBase, Order, Trade

    path = _sqlite_path(cfg.db_url)
    if path is not None and not path.exists():
        init_db(cfg.db_url)
        return ""
    init_db(cfg.db_url)
    session = Trade.session
    total = session.scalar(select(func.count()).select_from(Trade)) or 0
    foreign = session.scalar(
        select(func.count()).select_from(Trade).where(Trade.exchange != DEMO_EXCHANGE)) or 0
    session.close()
    if not cfg.fresh:
        orders = Trade.session.scalar(select(func.count()).select_from(Order)) or 0
        Trade.session.close()
        out.print(f"appending a new demo session to {total} existing trade(s)")
        return f"a{orders}-" if orders else ""
    if foreign:
        raise DemoError(
            f"{mask_url(cfg.db_url)} holds {foreign} trade(s) that the demo did not make; "
            "refusing to replace it. Use another --db, or --append to add a demo session."
        )
    if total == 0:
        return ""
    out.print(f"--fresh: replacing the previous demo database ({total} demo trades)")
    if path is not None:
        close_db()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        init_db(cfg.db_url)
        return ""
    from tradeledger.db import get_engine

    with get_engine().begin() as conn:
        for table in reversed(ModelBase.metadata.sorted_tables):
            conn.execute(table.delete())
    return ""


def _spawn(cfg: DemoConfig, exchange_file: Path, crash_at: int | None,
           errors: Any) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "tradeledger.demo.session", "--db", cfg.db_url,
           "--exchange", str(exchange_file)]
    if crash_at is not None:
        cmd += ["--crash-at", str(crash_at)]
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    # stderr goes to a file: a chatty child must never block on a full pipe
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True,
                            env=env, bufsize=1)


def _follow(proc: subprocess.Popen[str], on_step: Callable[[int], None],
            events: list[str]) -> str | None:
    """Read the child's lines until it ends or reaches its crash point (returns the id)."""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.strip()
        if line.startswith("STEP "):
            on_step(int(line.split()[1]))
        elif line.startswith("EVENT "):
            events.append(line[6:])
        elif line.startswith("CRASHPOINT "):
            return line.split()[1]
    return None


def _run_child(cfg: DemoConfig, exchange_file: Path, crash_at: int | None,
               on_step: Callable[[int], None], events: list[str]) -> str | None:
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as errors:
        proc = _spawn(cfg, exchange_file, crash_at, errors)
        try:
            crash_id = _follow(proc, on_step, events)
            if crash_id is not None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
                return crash_id
            proc.wait(timeout=cfg.timeout)
            if proc.returncode != 0:
                errors.seek(0)
                raise DemoError(f"the demo session failed (exit {proc.returncode}):\n"
                                f"{errors.read()[-3000:]}")
            return None
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
            if proc.stdout is not None:
                proc.stdout.close()


def _recover_and_reconcile(ex: SimExchange, result: DemoResult, out: Console) -> None:
    from tradeledger.services.intents import pending_intents, resolve_intent
    from tradeledger.services.reconcile import apply_reconciliation, reconcile
    from tradeledger.services.recovery import build_recovery_report

    report = build_recovery_report()
    result.recovery = report.to_dict()
    table = Table(title="Recovery report after the restart")
    for col in ("what", "count", "details"):
        table.add_column(col)
    table.add_row("open trades", str(len(report.open_trades)),
                  ", ".join(f"#{t.id} {t.pair}{' short' if t.is_short else ''}"
                            for t in report.open_trades))
    table.add_row("open orders", str(len(report.open_orders)),
                  ", ".join(f"{o.order_id} {o.ft_order_side} {o.pair}"
                            for o in report.open_orders))
    table.add_row("pending intents", str(len(report.pending_intents)),
                  ", ".join(f"{i.client_order_id} {i.side} {i.pair}"
                            for i in report.pending_intents))
    table.add_row("stop-loss orders", str(len(report.stoploss_orders)), "")
    out.print(table)

    pairs = [p.pair for p in ex.pairs]
    orders = [o for pair in pairs for o in ex.fetch_orders(pair)]
    rec = reconcile(orders, pairs=pairs)
    result.reconcile_differences = [d.to_dict() for d in rec.differences]
    rtable = Table(title=f"Reconciliation with the exchange ({len(rec.differences)} differences)")
    for col in ("reason / fix", "trade", "order", "detail"):
        rtable.add_column(col, overflow="fold")
    for d in rec.differences:
        rtable.add_row(f"{d.reason.value}\n-> {d.fix.value}",
                       "" if d.trade_id is None else f"#{d.trade_id} {d.pair}", d.order_id or "",
                       escape(d.detail))
    out.print(rtable)
    applied = apply_reconciliation(rec, dry_run=False)
    for intent in pending_intents():
        resolve_intent(intent.client_order_id,
                       ex.fetch_order_by_client_id(intent.client_order_id))
    again = reconcile([o for pair in pairs for o in ex.fetch_orders(pair)], pairs=pairs)
    result.reconcile_clean_after = again.is_clean
    out.print(f"applied {len(applied.changes)} fix(es), recalculated trades "
              f"{list(applied.trades_recalculated)}; reconciling again: "
              f"{'clean' if again.is_clean else f'{len(again.differences)} difference(s) left'}")


def _summary(result: DemoResult) -> None:
    from tradeledger.models import Order, Trade

    session = Trade.session
    result.trades = session.scalar(select(func.count()).select_from(Trade)) or 0
    result.open_trades = session.scalar(
        select(func.count()).select_from(Trade).where(Trade.is_open.is_(True))) or 0
    result.orders = session.scalar(select(func.count()).select_from(Order)) or 0


def run_demo(cfg: DemoConfig, out: Console | None = None) -> DemoResult:
    """Run the demo (see the module docstring) and return what happened.

    Raises:
        DemoError: the database holds other trades under ``fresh``, or a child failed.
    """
    out = out or Console()
    if cfg.steps < 60:
        raise DemoError(f"--steps must be at least 60, got {cfg.steps}")
    crash_at = cfg.crash_at if cfg.crash_at is not None else cfg.steps // 2
    if not 30 <= crash_at < cfg.steps - cfg.downtime - 10:
        raise DemoError(f"--crash-at must lie between 30 and {cfg.steps - cfg.downtime - 11}, "
                        f"got {crash_at}")
    path = _sqlite_path(cfg.db_url)
    exchange_file = cfg.exchange_file or (
        path.with_name(path.name + ".demo-exchange.json") if path is not None
        else Path.cwd() / "tradeledger-demo-exchange.json")
    result = DemoResult(db_url=cfg.db_url, exchange_file=exchange_file)
    out.print(f"[bold]tradeledger demo[/] - database {mask_url(cfg.db_url)}, seed {cfg.seed}, "
              f"{cfg.steps} candles of 5 minutes")
    prefix = _prepare_database(cfg, out)
    ex = SimExchange(exchange_file, seed=cfg.seed, steps=cfg.steps, id_prefix=prefix)
    ex.save()
    close_db()

    def make_progress() -> Progress:
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=out, disable=not cfg.progress)

    progress = make_progress()
    with progress:
        task = progress.add_task("trading (bot process 1)", total=cfg.steps)

        def on_step(step: int) -> None:
            progress.update(task, completed=step)

        crash_id = _run_child(cfg, exchange_file, crash_at, on_step, result.events)
        if crash_id is None:
            raise DemoError("the session ended before its crash point")
        ex = SimExchange.load(exchange_file)
        result.killed, result.killed_at_step = True, ex.step
        result.crash_client_order_id = None if crash_id == "-" else crash_id
        progress.update(task, description="[red]bot process killed (SIGKILL)[/]")
    if crash_id == "-":
        out.print(f"[bold red]SIGKILL[/] at candle {ex.step} ({ex.now():%Y-%m-%d %H:%M} UTC), "
                  "between two candles.")
    else:
        out.print(f"[bold red]SIGKILL[/] at candle {ex.step} ({ex.now():%Y-%m-%d %H:%M} UTC): "
                  f"the exchange accepted order {crash_id}, the database never heard the "
                  "answer.")
    for _ in range(cfg.downtime):
        for filled in ex.advance():
            out.print(f"  while the bot was down: {filled['symbol']} {filled['type']} "
                      f"{filled['side']} order {filled['id']} filled at {filled['average']}")
    init_db(cfg.db_url)
    _recover_and_reconcile(ex, result, out)
    close_db()
    progress = make_progress()
    with progress:
        task2 = progress.add_task("trading (bot process 2, restarted)", total=cfg.steps,
                                  completed=ex.step)

        def on_step2(step: int) -> None:
            progress.update(task2, completed=step)

        _run_child(cfg, exchange_file, None, on_step2, result.events)
    init_db(cfg.db_url)
    _summary(result)
    out.print(f"session finished: {result.trades} trades ({result.open_trades} still open), "
              f"{result.orders} orders")
    from tradeledger.cli.stats import print_performance

    print_performance(out, starting_balance=STARTING_BALANCE)
    if cfg.plot is not None:
        from tradeledger.cli.plotting import PlotUnavailableError, write_performance_plot

        try:
            result.plot = write_performance_plot(cfg.plot, starting_balance=STARTING_BALANCE,
                                                 title="tradeledger demo: equity and drawdown")
            out.print(f"equity / drawdown chart written: {result.plot}")
        except PlotUnavailableError as exc:
            result.plot_skipped = str(exc)
            out.print(f"[yellow]chart skipped:[/] {escape(str(exc))}")
    hint = "" if cfg.db_url == "sqlite:///tradeledger.sqlite" else f" --db {mask_url(cfg.db_url)}"
    out.print(f"next: tradeledger trades{hint} | tradeledger stats{hint} | "
              f"tradeledger check{hint}")
    return result
