"""Shared helpers of the reliability campaigns: databases, figures, log scanning, CLI args."""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

PG_ADMIN_URL = os.environ.get("TRADELEDGER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
MY_ADMIN_URL = os.environ.get("TRADELEDGER_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306")

#: A password put into every PostgreSQL URL the campaigns use (the test server trusts
#: 127.0.0.1, so it is accepted and ignored); no log record or exception may ever show it.
SECRET_PASSWORD = "Rel1ab-s3cret-" + uuid.uuid4().hex[:10]

BACKENDS = ("sqlite", "postgresql", "mariadb")


def machine() -> str:
    """One line describing the machine (cores, memory, OS)."""
    try:
        mem_kb = int(next(ln for ln in Path("/proc/meminfo").read_text().splitlines()
                          if ln.startswith("MemTotal")).split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, StopIteration, ValueError):
        mem = "? RAM"
    return f"{os.cpu_count()} cores, {mem}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


@dataclass
class Figures:
    """The figures a campaign prints; any violation makes the campaign exit 1."""

    campaign: str
    values: dict[str, Any] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    allow_known: bool = False

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value

    def add(self, key: str, n: int | float = 1) -> None:
        self.values[key] = self.values.get(key, 0) + n

    def violation(self, message: str) -> None:
        if len(self.violations) < 10_000:
            self.violations.append(message)

    def check(self, ok: bool, message: str) -> bool:
        if not ok:
            self.violation(message)
        return ok

    def report(self, stream: Any = None) -> int:
        """Print the figures (text, then one JSON line) and return the exit status."""
        stream = stream or sys.stdout
        elapsed = time.time() - self.started
        print(f"== reliability campaign: {self.campaign}", file=stream)
        print(f"   date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}", file=stream)
        print(f"   machine: {machine()}", file=stream)
        print(f"   elapsed: {elapsed:.1f} s", file=stream)
        for key, value in self.values.items():
            if isinstance(value, float):
                value = f"{value:.6g}"
            print(f"   {key}: {value}", file=stream)
        from reliability.known_issues import known_issue

        known: dict[str, int] = {}
        new: list[str] = []
        for v in self.violations:
            issue = known_issue(v)
            if issue is None:
                new.append(v)
            else:
                known[issue.key] = known.get(issue.key, 0) + 1
        print(f"   violations: {len(self.violations)} (known, reported: {sum(known.values())};"
              f" new: {len(new)})", file=stream)
        for key, count in known.items():
            print(f"   KNOWN ISSUE (reported, not fixed yet): {key} x {count}", file=stream)
        for v in new[:50]:
            print(f"   VIOLATION: {v}", file=stream)
        summary = {"campaign": self.campaign, "elapsed_s": round(elapsed, 2),
                   "violations": len(self.violations), "new_violations": len(new),
                   "known_issues": known, **self.values}
        print("JSON " + json.dumps(summary, default=str), file=stream)
        stream.flush()
        if new or (self.violations and not self.allow_known):
            return 1
        return 0


def parser(campaign: str, size_help: str, default_size: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m reliability.{campaign}")
    p.add_argument("--size", type=int, default=default_size, help=size_help)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: time based)")
    p.add_argument("--allow-known", action="store_true",
                   help="exit 0 when every violation is a known, reported issue "
                        "(reliability/known_issues.py)")
    return p


def add_backends_arg(p: argparse.ArgumentParser, default: Sequence[str] = BACKENDS) -> None:
    p.add_argument("--backends", default=",".join(default),
                   help=f"comma separated subset of {','.join(BACKENDS)}")


def parse_backends(raw: str) -> list[str]:
    chosen = [b.strip() for b in raw.split(",") if b.strip()]
    bad = set(chosen) - set(BACKENDS)
    if bad:
        raise SystemExit(f"unknown backend(s): {sorted(bad)}")
    return chosen


def _admin_engine(backend: str) -> Engine:
    admin = PG_ADMIN_URL if backend == "postgresql" else MY_ADMIN_URL
    return create_engine(admin, isolation_level="AUTOCOMMIT")


def server_available(backend: str) -> str | None:
    """None if the server of ``backend`` answers, else the reason."""
    if backend == "sqlite":
        return None
    eng = _admin_engine(backend)
    try:
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        eng.dispose()


@dataclass
class Database:
    """A fresh database for one campaign run."""

    backend: str
    url: str
    name: str
    path: Path | None = None  # SQLite file

    def drop(self) -> None:
        from tradeledger.db import close_db

        close_db()
        if self.backend == "sqlite":
            return
        eng = _admin_engine(self.backend)
        try:
            with eng.connect() as conn:
                if self.backend == "postgresql":
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
                else:
                    conn.execute(text(f"DROP DATABASE IF EXISTS `{self.name}`"))
        finally:
            eng.dispose()

    def admin_engine(self) -> Engine:
        """An AUTOCOMMIT engine on this database (not through tradeledger)."""
        return create_engine(self.url, isolation_level="AUTOCOMMIT")


def new_database(backend: str, workdir: Path, *, password: bool = True) -> Database:
    """Create an empty database on ``backend`` (random name) and return it."""
    name = f"tl_rel_{uuid.uuid4().hex[:12]}"
    if backend == "sqlite":
        path = workdir / f"{name}.sqlite"
        return Database(backend, f"sqlite:///{path}", name, path)
    reason = server_available(backend)
    if reason is not None:
        raise RuntimeError(f"backend {backend} unavailable: {reason}")
    eng = _admin_engine(backend)
    with eng.connect() as conn:
        if backend == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                              "COLLATE utf8mb4_bin"))
    eng.dispose()
    if backend == "postgresql":
        host = PG_ADMIN_URL.split("://", 1)[1].split("@", 1)[1]
        user = PG_ADMIN_URL.split("://", 1)[1].split("@", 1)[0].split(":")[0]
        auth = f"{user}:{SECRET_PASSWORD}" if password else user
        url = f"postgresql+psycopg://{auth}@{host}/{name}"
    else:
        url = f"{MY_ADMIN_URL}/{name}"
    return Database(backend, url, name)


@contextmanager
def workdir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"tl-rel-{prefix}-") as d:
        yield Path(d)


class LogScanner(logging.Handler):
    """Collects every log record (all levels, all loggers) and checks them for secrets."""

    def __init__(self, secrets: Sequence[str] = (SECRET_PASSWORD,)) -> None:
        super().__init__(level=logging.DEBUG)
        self.secrets = [s for s in secrets if s]
        self.records = 0
        self.leaks: list[str] = []

    def report_to(self, fig: Figures, prefix: str = "password leaked") -> None:
        """Record how many log records were scanned, and every leak as a violation."""
        fig.set("log_records_scanned", self.records)
        for leak in self.leaks:
            fig.violation(f"{prefix}: {leak}")

    def emit(self, record: logging.LogRecord) -> None:
        self.records += 1
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        parts = [msg]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        blob = "\n".join(parts)
        for s in self.secrets:
            if s in blob:
                self.leaks.append(f"{record.name}:{record.levelname}: {blob[:200]}")

    def check_exception(self, exc: BaseException) -> None:
        """Scan an exception (message, repr, chained causes, traceback text)."""
        blob = "".join(traceback.format_exception(exc)) + repr(exc)
        for s in self.secrets:
            if s in blob:
                self.leaks.append(f"exception {type(exc).__name__}: {blob[:200]}")

    @contextmanager
    def installed(self, *, sql: bool = False) -> Iterator[LogScanner]:
        root = logging.getLogger()
        old_level = root.level
        root.addHandler(self)
        root.setLevel(logging.DEBUG)
        # SQLAlchemy loggers: make the engine/pool log too, so that their records are scanned
        sa_levels = {}
        for name in (("sqlalchemy.engine", "sqlalchemy.pool") if sql else ("sqlalchemy.pool",)):
            lg = logging.getLogger(name)
            sa_levels[name] = lg.level
            lg.setLevel(logging.INFO)
        try:
            yield self
        finally:
            root.removeHandler(self)
            root.setLevel(old_level)
            for name, lvl in sa_levels.items():
                logging.getLogger(name).setLevel(lvl)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def run_main(fn: Callable[[argparse.Namespace], Figures], p: argparse.ArgumentParser) -> None:
    args = p.parse_args()
    figures = fn(args)
    figures.allow_known = args.allow_known
    raise SystemExit(figures.report())
