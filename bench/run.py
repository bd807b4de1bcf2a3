#!/usr/bin/env python3
"""tradeledger benchmark runner: every case of issues 3, 5, 7 and 10 against freqtrade 2026.9.

Usage::

    python bench/run.py                  # full run, writes BENCHMARKS.md at the repo root
    python bench/run.py --quick          # small sizes, writes bench/.cache/BENCHMARKS-quick.md
    python bench/run.py --only 3a 5-bt   # cases whose id starts with one of the prefixes
    python bench/run.py --list           # list the cases

Each measurement runs in a fresh subprocess: freqtrade cases in the cached virtualenv
``bench/.venv-freqtrade`` (created on first use with ``freqtrade==2026.9`` from PyPI),
tradeledger and raw-driver cases in the project's ``.venv``. Peak RSS is the child's
``ru_maxrss`` (``os.wait4``). PostgreSQL databases get random names and are dropped after
each run; SQLite files live in a temporary directory. This script uses only the standard
library, so any Python 3.11+ can start it.
"""

# ruff: noqa: RUF001 - the report uses typographic signs (times, en dash) on purpose
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
CASES_DIR = BENCH / "cases"
CACHE = BENCH / ".cache"
FT_VENV = Path(os.environ.get("BENCH_FT_VENV", BENCH / ".venv-freqtrade"))
FT_VERSION = "2026.9"
TL_PYTHON = Path(os.environ.get("BENCH_TL_PYTHON", ROOT / ".venv" / "bin" / "python"))
FT_PYTHON = FT_VENV / "bin" / "python"
PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = os.environ.get("BENCH_PG_PORT", "5432")
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
CHILD_TIMEOUT = 1800

#: What freqtrade.persistence imports at run time, for the ``--no-deps`` fallback install
#: (the full ``pip install freqtrade==2026.9`` is tried first).
FT_MIN_DEPS = [
    "SQLAlchemy==2.1.9", "ccxt", "pandas", "numpy", "python-rapidjson", "orjson",
    "jsonschema", "rich", "humanize", "cachetools", "requests", "httpx", "aiohttp",
    "python-dateutil", "pyarrow", "psutil", "joblib", "questionary", "prompt-toolkit",
    "colorama", "sdnotify", "schedule", "fastapi", "pydantic",
    "pyjwt", "websockets", "janus", "python-telegram-bot", "cryptography", "tabulate",
    "psycopg2-binary",
]


# --------------------------------------------------------------------------------------------
# freqtrade virtualenv
# --------------------------------------------------------------------------------------------
def _ft_ok() -> bool:
    if not FT_PYTHON.exists():
        return False
    probe = ("import freqtrade, psycopg2, sqlalchemy; "
             f"assert freqtrade.__version__ == {FT_VERSION!r}, freqtrade.__version__")
    return subprocess.run([str(FT_PYTHON), "-c", probe], capture_output=True,
                          check=False).returncode == 0


def ensure_freqtrade_venv() -> dict[str, Any]:
    """Create (once) bench/.venv-freqtrade with freqtrade==2026.9; return how it was made."""
    info_file = FT_VENV / "tradeledger-bench-install.json"
    CACHE.mkdir(parents=True, exist_ok=True)
    if _ft_ok():
        if info_file.exists():
            return json.loads(info_file.read_text())
        return {"method": "full", "note": "existing virtualenv"}
    base = sys.executable
    if sys.version_info < (3, 11):  # noqa: UP036 - any python3 may start this script
        raise SystemExit("freqtrade 2026.9 needs Python >= 3.11; run this script with it")
    print(f"creating {FT_VENV} with freqtrade=={FT_VERSION} (first run only) ...", flush=True)
    subprocess.run([base, "-m", "venv", "--clear", str(FT_VENV)], check=True)
    pip = [str(FT_PYTHON), "-m", "pip", "install", "-q"]
    log = FT_VENV / "tradeledger-bench-install.log"
    with log.open("w") as fh:
        full = subprocess.run([*pip, f"freqtrade=={FT_VERSION}", "psycopg2-binary"],
                              stdout=fh, stderr=subprocess.STDOUT, check=False)
    info: dict[str, Any]
    if full.returncode == 0 and _ft_ok():
        info = {"method": "full", "note": f"pip install freqtrade=={FT_VERSION} psycopg2-binary"}
    else:
        print(f"full install failed (see {log}); "
              "falling back to --no-deps + what freqtrade.persistence imports", flush=True)
        with log.open("a") as fh:
            subprocess.run([*pip, "--no-deps", f"freqtrade=={FT_VERSION}"], stdout=fh,
                           stderr=subprocess.STDOUT, check=True)
            subprocess.run([*pip, *FT_MIN_DEPS], stdout=fh, stderr=subprocess.STDOUT,
                           check=True)
        if not _ft_ok():
            raise SystemExit(f"freqtrade venv unusable; see {log}")
        info = {"method": "no-deps",
                "note": f"pip install --no-deps freqtrade=={FT_VERSION} + "
                        + " ".join(FT_MIN_DEPS)}
    info_file.write_text(json.dumps(info))
    return info


# --------------------------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------------------------
def _psql(sql: str, db: str = "postgres") -> str:
    cmd = ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", db, "-qAtc", sql]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"psql failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


class Database:
    """A fresh database for one child run: ``sqlite`` (temp file) or ``pg`` (random name)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.tmp: str | None = None
        self.name: str | None = None

    def __enter__(self) -> str:
        if self.kind == "sqlite":
            CACHE.mkdir(parents=True, exist_ok=True)
            self.tmp = tempfile.mkdtemp(prefix="db-", dir=CACHE)
            return f"sqlite:{self.tmp}/bench.sqlite"
        self.name = f"tlbench_{uuid.uuid4().hex[:12]}"
        _psql(f'CREATE DATABASE "{self.name}"')
        return f"pg:{self.name}"

    def __exit__(self, *exc: object) -> None:
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.name:
            _psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------------
# child processes
# --------------------------------------------------------------------------------------------
def run_child(cmd: list[str], timeout: int = CHILD_TIMEOUT) -> dict[str, Any]:
    """Run ``cmd``; return its last JSON line plus ``child_maxrss_mb`` (os.wait4)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, start_new_session=True)
    chunks: dict[str, str] = {}

    def reader(name: str, stream: Any) -> None:
        chunks[name] = stream.read()

    threads = [threading.Thread(target=reader, args=(n, s), daemon=True)
               for n, s in (("out", proc.stdout), ("err", proc.stderr))]
    for t in threads:
        t.start()
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:  # interrupted: do not leave the child (and its children) running
        os.killpg(proc.pid, signal.SIGKILL)
        os.waitpid(proc.pid, 0)
        raise
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in threads:
        t.join()
    out, err = chunks.get("out", ""), chunks.get("err", "")
    lines = [ln for ln in out.strip().splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        tail = "\n".join(err.strip().splitlines()[-6:])
        return {"error": f"exit {proc.returncode}: {tail or out[-500:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    result["child_maxrss_mb"] = round(usage.ru_maxrss * 1024 / 1e6, 1)
    return result


def python_for(lib: str) -> str:
    return str(FT_PYTHON if lib == "freqtrade" else TL_PYTHON)


@dataclass
class Run:
    """One child run: ``lib`` column, case script and its arguments, database kind."""

    lib: str
    script: str
    args: list[str]
    db: str | None = None
    repeat: int = 1

    def command(self, target: str | None) -> list[str]:
        args = [*self.args, *(["--db", target] if target else [])]
        lib_arg = "raw" if self.lib == "raw" else self.lib
        return [python_for(self.lib), str(CASES_DIR / self.script), "--lib", lib_arg, *args]

    def display(self) -> str:
        db = {"sqlite": " --db sqlite:<tmp>/bench.sqlite", "pg": " --db pg:<random db>",
              None: ""}[self.db]
        py = ("bench/.venv-freqtrade/bin/python" if self.lib == "freqtrade"
              else ".venv/bin/python")
        return f"{py} bench/cases/{self.script} --lib {self.lib} {shlex.join(self.args)}{db}"

    def execute(self) -> dict[str, Any]:
        results = []
        for _ in range(self.repeat):
            load = os.getloadavg()[0]
            if self.db:
                with Database(self.db) as target:
                    res = run_child(self.command(target))
            else:
                res = run_child(self.command(None))
            res["loadavg_1m_before"] = round(load, 2)
            results.append(res)
        ok = [r for r in results if "error" not in r]
        if not ok:
            return results[-1]
        return _median_result(ok)


def _median_result(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose headline metric is the median one (all runs' metric listed)."""
    key = next((k for k in ("trades_per_s", "calls_per_s", "mean_ms", "seconds")
                if k in results[0]), None)
    if key is None or len(results) == 1:
        return results[0]
    ordered = sorted(results, key=lambda r: r[key])
    chosen = dict(ordered[len(ordered) // 2])
    chosen["all_runs_" + key] = [r[key] for r in results]
    return chosen


# --------------------------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------------------------
Verdict = tuple[str, bool | None]


@dataclass
class Case:
    """A row of the report: one workload, one child run per library column."""

    id: str
    issue: str
    title: str
    metric: str            # JSON key of the headline figure
    unit: str
    higher_is_better: bool
    runs: list[Run]
    target_ratio: float | None = None
    extra_checks: list[Callable[[dict[str, dict[str, Any]]], Verdict]] = field(
        default_factory=list)
    note: str = ""
    ref_freqtrade: str | None = None  # reuse the freqtrade (and raw) runs of this case id
    primary: str = "tradeledger"  # the run shown in the tradeledger column

    def ratio(self, res: dict[str, dict[str, Any]], lib: str | None = None) -> float | None:
        a, b = res.get(lib or self.primary, {}), res.get("freqtrade", {})
        if self.metric not in a or self.metric not in b or not a[self.metric] or \
                not b[self.metric]:
            return None
        if self.higher_is_better:
            return float(a[self.metric]) / float(b[self.metric])
        return float(b[self.metric]) / float(a[self.metric])

    def verdicts(self, res: dict[str, dict[str, Any]]) -> list[Verdict]:
        out: list[Verdict] = []
        if self.target_ratio is not None:
            r = self.ratio(res)
            text = f"≥ {self.target_ratio:g}× freqtrade"
            out.append((text, None if r is None else r >= self.target_ratio))
        for check in self.extra_checks:
            out.append(check(res))
        return out


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"bt_trades": 5_000, "persist": 200, "lock_calls": 2_000,
                "lock_calls_db": 1_000, "expired": 100_000, "ft_expired_calls": 20,
                "perf_closed": 2_000, "perf_open": 20, "perf_calls": 5,
                "bot_trades": 30, "import_repeat": 1, "journal_trades": 50, "lock_repeat": 1,
                "journal_rounds": 3}
    return {"bt_trades": 100_000, "persist": 2_000, "lock_calls": 50_000,
            "lock_calls_db": 5_000, "expired": 100_000, "ft_expired_calls": 50,
            "perf_closed": 20_000, "perf_open": 200, "perf_calls": 20,
            "bot_trades": 250, "import_repeat": 3, "journal_trades": 400, "lock_repeat": 3,
            "journal_rounds": 5}


def _mem_check(res: dict[str, dict[str, Any]]) -> Verdict:
    tl, ft = res.get("tradeledger", {}), res.get("freqtrade", {})
    if "kb_per_trade" not in tl or "kb_per_trade" not in ft:
        return ("memory per kept trade ≤ 1/4 of freqtrade", None)
    frac = tl["kb_per_trade"] / ft["kb_per_trade"]
    return (f"memory per kept trade ≤ 1/4 of freqtrade (measured {frac:.2f})", frac <= 0.25)


def _import_time_check(res: dict[str, dict[str, Any]]) -> Verdict:
    tl = res.get("tradeledger", {})
    s = tl.get("seconds")
    return (f"import ≤ 0.3 s (measured {s} s)", None if s is None else s <= 0.3)


def _import_rss_check(res: dict[str, dict[str, Any]]) -> Verdict:
    tl = res.get("tradeledger", {})
    m = tl.get("rss_mb")
    return (f"RSS after import ≤ 60 MB (measured {m} MB)", None if m is None else m <= 60)


def build_cases(quick: bool) -> list[Case]:
    s = _sizes(quick)
    cases: list[Case] = []
    for prec in (1, 0):
        label = "with" if prec else "without"
        cases.append(Case(
            id=f"3a-backtest-{'precision' if prec else 'noprecision'}", issue="3",
            title=f"backtest lifecycle (facts §8 case 4), {s['bt_trades']:,} trades, "
                  f"{label} tick-size precision", metric="trades_per_s", unit="trades/s",
            higher_is_better=True, target_ratio=10,
            runs=[Run(lib, "backtest_cycle.py",
                      ["--trades", str(s["bt_trades"]), "--precision", str(prec)])
                  for lib in ("tradeledger", "freqtrade")],
            extra_checks=[_mem_check]))
    cases.append(Case(
        id="3a-backtest-orm-order", issue="3",
        title=f"same, with tradeledger's mapped ORM `Order` instead of `LocalOrder` "
              f"(precision, {s['bt_trades']:,} trades; informational)",
        metric="trades_per_s", unit="trades/s", higher_is_better=True,
        runs=[Run("tradeledger", "backtest_cycle.py",
                  ["--trades", str(s["bt_trades"]), "--precision", "1", "--order-class", "orm"])],
        ref_freqtrade="3a-backtest-precision"))
    for db, name in (("sqlite", "SQLite file (WAL, synchronous=FULL)"), ("pg", "PostgreSQL")):
        cases.append(Case(
            id=f"3b-persist-{db}", issue="3",
            title=f"persist a closed trade + 2 filled orders, 1 commit each, {name}, "
                  f"{s['persist']:,} trades", metric="trades_per_s", unit="trades/s",
            higher_is_better=True, target_ratio=8,
            runs=[Run(lib, "persist_trade.py", ["--trades", str(s["persist"])], db=db)
                  for lib in ("tradeledger", "freqtrade", "raw")]))
        cases.append(Case(
            id=f"3b-persist-fast-{db}", issue="3",
            title=f"same trades through the Core fast path `persist_trade` (built as "
                  f"`LocalTrade` + 2 `LocalOrder`, build timed too), 1 commit each, {name}, "
                  f"{s['persist']:,} trades (freqtrade and raw runs: 3b-persist-{db})",
            metric="trades_per_s", unit="trades/s", higher_is_better=True, target_ratio=8,
            runs=[Run("tradeledger-fast", "persist_trade.py", ["--trades", str(s["persist"])],
                      db=db)],
            ref_freqtrade=f"3b-persist-{db}", primary="tradeledger-fast"))
    cases.append(Case(
        id="3c-import", issue="3",
        title="`import tradeledger` vs `import freqtrade.persistence` (fresh interpreter; "
              "raw = `import sqlalchemy.orm`)",
        metric="seconds", unit="s", higher_is_better=False,
        runs=[Run(lib, "import_time.py", [], repeat=s["import_repeat"])
              for lib in ("tradeledger", "freqtrade", "raw")],
        note="raw column = `import sqlalchemy.orm` alone, the floor for any library that "
             "imports the SQLAlchemy ORM at package import.",
        extra_checks=[_import_time_check, _import_rss_check]))
    for kind in ("locked", "unlocked"):
        for db, name in (("sqlite", "SQLite file"), ("pg", "PostgreSQL")):
            cases.append(Case(
                id=f"5-db-{kind}-{db}", issue="5",
                title=f"`is_pair_locked` ({kind} pair), DB mode, 50 active locks, {name}",
                metric="calls_per_s", unit="calls/s", higher_is_better=True, target_ratio=10,
                runs=[Run(lib, "pair_locks.py",
                          ["--kind", kind, "--calls", str(s["lock_calls_db"])], db=db,
                          repeat=s["lock_repeat"])
                      for lib in ("tradeledger", "freqtrade", "raw")],
                note="raw column = the same check query (tradeledger's SQL text) through the "
                     "bare driver in autocommit (psycopg: server-side prepared), the floor for "
                     "one query per check; `select1_us` = a bare `SELECT 1` round trip."))
        cases.append(Case(
            id=f"5-bt-{kind}", issue="5",
            title=f"`is_pair_locked` ({kind} pair), backtesting mode, 50 active locks",
            metric="calls_per_s", unit="calls/s", higher_is_better=True, target_ratio=50,
            runs=[Run(lib, "pair_locks.py", ["--kind", kind, "--calls", str(s["lock_calls"])],
                      repeat=s["lock_repeat"])
                  for lib in ("tradeledger", "freqtrade")]))
        cases.append(Case(
            id=f"5-bt-{kind}-expired", issue="5",
            title=f"`is_pair_locked` ({kind} pair), backtesting mode, 50 active + "
                  f"{s['expired']:,} expired locks (freqtrade: {s['ft_expired_calls']} calls)",
            metric="calls_per_s", unit="calls/s", higher_is_better=True, target_ratio=50,
            runs=[Run("tradeledger", "pair_locks.py",
                      ["--kind", kind, "--calls", str(s["lock_calls"]),
                       "--expired", str(s["expired"])], repeat=s["lock_repeat"]),
                  Run("freqtrade", "pair_locks.py",
                      ["--kind", kind, "--calls", str(s["ft_expired_calls"]),
                       "--expired", str(s["expired"])])],
            extra_checks=[_expired_check(kind)]))
    for db, name in (("sqlite", "SQLite file"), ("pg", "PostgreSQL")):
        cases.append(Case(
            id=f"7-overall-performance-{db}", issue="7",
            title=f"`Trade.get_overall_performance()` on {s['perf_closed']:,} closed trades "
                  f"(+{s['perf_open']} open), {name}, warm session",
            metric="mean_ms", unit="ms (mean)", higher_is_better=False, target_ratio=5,
            runs=[Run(lib, "performance_query.py",
                      ["--closed", str(s["perf_closed"]), "--open", str(s["perf_open"]),
                       "--calls", str(s["perf_calls"])], db=db)
                  for lib in ("tradeledger", "freqtrade")]))
    cases.append(Case(
        id="10-multibot-pg", issue="10",
        title=f"8 bot processes on one PostgreSQL, {s['bot_trades']} trades each (trade + 2 "
              "orders, 1 commit each); `pgbench` column = same rows, 8 clients",
        metric="trades_per_s", unit="trades/s (all processes)", higher_is_better=True,
        runs=[Run(lib, "multibot.py", ["--procs", "8", "--trades", str(s["bot_trades"])],
                  db="pg") for lib in ("tradeledger", "freqtrade", "pgbench")]))
    for backend, name in (("sqlite", "SQLite file"), ("postgresql", "PostgreSQL")):
        cases.append(Case(
            id=f"10-journal-overhead-{'pg' if backend == 'postgresql' else backend}", issue="10",
            title=f"audit journal on vs off, persist workload, {name} "
                  "(bench/bench_journal.py, alternating rounds, median)",
            metric="trades_per_s", unit="trades/s (journal on)", higher_is_better=True,
            runs=[Run("tradeledger", "journal_overhead.py",
                      ["--backend", backend, "--trades", str(s["journal_trades"]),
                       "--rounds", str(s["journal_rounds"])])],
            extra_checks=[_journal_check]))
    for backend, name in (("sqlite", "SQLite file"), ("postgresql", "PostgreSQL")):
        cases.append(Case(
            id=f"7-analytics-1m-{'pg' if backend == 'postgresql' else backend}", issue="7",
            title=f"{'20 000 (quick)' if quick else '1 000 000'} closed trades, 2 orders each, "
                  f"{name}: open-trade query, init_db, every metric, peak RSS "
                  "(bench/bench_analytics.py)",
            metric="slowest_metric_ms", unit="ms (slowest metric)", higher_is_better=False,
            runs=[Run("tradeledger", "analytics_1m.py",
                      ["--backend", backend, *(["--quick"] if quick else [])])],
            extra_checks=[_m1_check("open_trade_count_ms", "open-trade count", 5, "ms"),
                          _m1_check("get_open_trades_ms", "get_open_trades", 5, "ms"),
                          _m1_check("slowest_metric_ms", "every metric after a write", 1000,
                                    "ms"),
                          _m1_check("slowest_restart_ms", "every metric, first call in a "
                                    "later process (partial results stored)", 1000, "ms"),
                          _m1_check("slowest_first_ms", "every metric, first call after a "
                                    "bulk load (nothing stored yet)", 1000, "ms"),
                          _m1_check("init_db_s", "init_db", 0.5, "s"),
                          _m1_check("measure_peak_rss_mb", "peak RSS", 300, "MB")]))
    return cases


def _expired_check(kind: str) -> Callable[[dict[str, dict[str, Any]]], Verdict]:
    def check(res: dict[str, dict[str, Any]]) -> Verdict:
        tl = res.get("tradeledger", {})
        base = RESULTS_BY_ID.get(f"5-bt-{kind}", {}).get("tradeledger", {})
        if "calls_per_s" not in tl or "calls_per_s" not in base:
            return ("within 20 % of the run without expired locks", None)
        frac = tl["calls_per_s"] / base["calls_per_s"]
        return (f"within 20 % of the run without expired locks (measured {frac:.2f}×)",
                frac >= 0.8)
    return check


def _m1_check(key: str, label: str, limit: float,
              unit: str) -> Callable[[dict[str, dict[str, Any]]], Verdict]:
    def check(res: dict[str, dict[str, Any]]) -> Verdict:
        v = res.get("tradeledger", {}).get(key)
        return (f"{label} < {limit:g} {unit} (measured {v})", None if v is None else v < limit)
    return check


def _journal_check(res: dict[str, dict[str, Any]]) -> Verdict:
    tl = res.get("tradeledger", {})
    if not tl.get("available"):
        return ("journal overhead ≤ 25 %", None)
    over = tl.get("overhead_pct")
    return (f"journal overhead ≤ 25 % (measured {over} %)",
            None if over is None else over <= 25)


RESULTS_BY_ID: dict[str, dict[str, dict[str, Any]]] = {}


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.1f}"
        return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def machine_info() -> dict[str, Any]:
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as fh:
        mem_kb = int(fh.readline().split()[1])

    def out(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                                  check=False).stdout.strip()
        except OSError:
            return "?"

    versions = out([str(TL_PYTHON), "-c",
                    "import sqlalchemy, sqlite3, tradeledger, psycopg;"
                    "print(tradeledger.__version__, sqlalchemy.__version__,"
                    " sqlite3.sqlite_version, psycopg.__version__)"]).split()
    ft_versions = out([str(FT_PYTHON), "-c",
                       "import sqlalchemy, freqtrade, psycopg2, sqlite3;"
                       "print(freqtrade.__version__, sqlalchemy.__version__,"
                       " psycopg2.__version__.split()[0], sqlite3.sqlite_version)"]).split()
    try:
        pg = _psql("SHOW server_version")
    except (RuntimeError, OSError):
        pg = "unavailable"
    return {
        "cores": os.cpu_count(), "cpu": cpu, "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(), "kernel": platform.release(),
        "tradeledger": versions[0] if versions else "?",
        "tl_sqlalchemy": versions[1] if len(versions) > 1 else "?",
        "sqlite": versions[2] if len(versions) > 2 else "?",
        "psycopg": versions[3] if len(versions) > 3 else "?",
        "freqtrade": ft_versions[0] if ft_versions else "?",
        "ft_sqlalchemy": ft_versions[1] if len(ft_versions) > 1 else "?",
        "psycopg2": ft_versions[2] if len(ft_versions) > 2 else "?",
        "postgresql": pg, "git": out(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(out(["git", "status", "--porcelain", "--untracked-files=no", "--",
                              ".", ":!BENCHMARKS.md"])),
    }


def _headline(case: Case, res: dict[str, Any]) -> str:
    if "error" in res:
        return "error"
    if res.get("available") is False:
        return "n/a"
    v = res.get(case.metric)
    text = _fmt(v)
    if case.metric == "mean_ms" and "p95_ms" in res:
        text += f" (p95 {_fmt(res['p95_ms'])})"
    return text


def _details(case: Case, lib: str, res: dict[str, Any]) -> str:
    if "error" in res:
        return f"**error**: `{res['error'][:300]}`"
    if res.get("available") is False:
        return res.get("error", "not available")
    keys = {
        "backtest_cycle": ["seconds", "kb_per_trade", "rss_before_mb", "rss_after_mb",
                           "peak_rss_mb", "check_last_close_profit_abs"],
        "persist_trade": ["seconds", "cpu_ms_per_trade", "rows_trades", "peak_rss_mb"],
        "import": ["seconds", "rss_mb", "modules_loaded", "heavy_modules", "all_runs_seconds"],
        "pair_locks": ["us_per_call", "best_calls_per_s", "all_runs_calls_per_s", "result",
                       "select1_us", "peak_rss_mb"],
        "performance_query": ["mean_ms", "p50_ms", "p95_ms", "first_call_ms",
                              "after_write_mean_ms", "after_write_p95_ms", "populate_s",
                              "trade_count", "profit_abs_sum", "peak_rss_mb"],
        "multibot": ["trades_total", "seconds", "client_cpu_ms_per_trade", "rows_trades",
                     "peak_rss_mb", "pgbench_cmd"],
    }.get(res.get("case", ""), [k for k in res if k not in ("case", "lib")])
    parts = [f"{k}={_fmt(res[k]) if not isinstance(res[k], list) else res[k]}"
             for k in keys if k in res]
    parts.append(f"load={res.get('loadavg_1m_before')}")
    return ", ".join(parts)


def render(cases: list[Case], results: dict[str, dict[str, Any]], ats: dict[str, str],
           info: dict[str, Any], ft_install: dict[str, Any], cmds: dict[str, str], quick: bool,
           started: str, finished: str) -> str:
    lines = [
        "# tradeledger benchmarks" + (" (QUICK sizes — not the reference figures)" if quick
                                      else ""),
        "",
        f"Written {finished} UTC by `bench/run.py` (this invocation started {started}); each "
        "case below says when it was measured and the section *Exact commands* lists the "
        "runner commands that produced the figures.",
        "",
        "## Machine and versions",
        "",
        f"- {info['cores']} cores ({info['cpu']}), {info['mem_gib']} GiB RAM, Linux "
        f"{info['kernel']}, Python {info['python']}.",
        f"- tradeledger {info['tradeledger']} (git {info['git']}"
        f"{', uncommitted changes' if info['git_dirty'] else ''}), SQLAlchemy "
        f"{info['tl_sqlalchemy']}, psycopg {info['psycopg']}, SQLite {info['sqlite']}.",
        f"- freqtrade {info['freqtrade']} in `bench/.venv-freqtrade` (SQLAlchemy "
        f"{info['ft_sqlalchemy']}, psycopg2 {info['psycopg2']}, SQLite {info['sqlite']}); "
        f"installed with: `{ft_install.get('note', '?')}`.",
        f"- PostgreSQL {info['postgresql']} on {PG_HOST}:{PG_PORT} (local socket over TCP, "
        "default `synchronous_commit=on`).",
        "- The machine is shared with other work during a session: the 1-minute load average "
        "before each child run is listed (`load=`); on 2 cores a load above 2 slows every "
        "figure, for both libraries alike as they run back to back.",
        "",
        "Method: every figure comes from a fresh process (freqtrade's in its own virtualenv), "
        "logging disabled while timing, peak RSS = the child's `ru_maxrss`. The same workload "
        "code runs against both libraries (their APIs are the same); see `bench/README.md`.",
        "",
        "## Summary",
        "",
        "| case | tradeledger | freqtrade 2026.9 | raw driver / pgbench | unit | ratio | "
        "target | met? |",
        "|---|---:|---:|---:|---|---:|---|---|",
    ]
    for case in cases:
        res = results.get(case.id)
        if not res:
            continue
        third = next((lib for lib in ("raw", "pgbench") if lib in res), None)
        ratio = case.ratio(res) if case.metric else None
        verdicts = case.verdicts(res)
        vtext = "; ".join(v[0] for v in verdicts) or "–"
        met = "; ".join("yes" if v[1] else ("n/a" if v[1] is None else "**NO**")
                        for v in verdicts) or "–"
        lines.append(
            f"| {case.id}: {case.title} | "
            f"{_headline(case, res[case.primary]) if case.primary in res else '–'} | "
            f"{_headline(case, res['freqtrade']) if 'freqtrade' in res else '–'} | "
            f"{_headline(case, res[third]) if third else '–'} | {case.unit or '–'} | "
            f"{f'{ratio:.2f}×' if ratio is not None else '–'} | {vtext} | {met} |")
    lines += ["", "Ratio = tradeledger ÷ freqtrade for rates, freqtrade ÷ tradeledger for "
              "times (so > 1 always means tradeledger is faster).", "",
              "## Details (every figure of every child run)", ""]
    for case in cases:
        res = results.get(case.id)
        if not res:
            continue
        lines.append(f"### {case.id} — {case.title} (measured {ats.get(case.id, '?')} UTC)")
        lines.append("")
        for run in case.runs:
            r = res.get(run.lib)
            if r is None:
                continue
            lines.append(f"- **{run.lib}**: {_details(case, run.lib, r)}  ")
            lines.append(f"  `{run.display()}`")
        for reused in ("freqtrade", "raw"):
            if case.ref_freqtrade and reused in res:
                lines.append(f"- **{reused}**: the run of {case.ref_freqtrade} above "
                             f"({_details(case, reused, res[reused])})")
        if case.note:
            lines += ["", case.note]
        lines.append("")
    notes = CASES_DIR / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().strip(), ""]
    by_cmd: dict[str, list[str]] = {}
    for case in cases:
        if case.id in results:
            by_cmd.setdefault(cmds.get(case.id, "python bench/run.py"), []).append(case.id)
    lines += ["## Exact commands", "", "From the repository root:", "", "```"]
    for cmd, ids in by_cmd.items():
        lines.append(f"{cmd}    # {', '.join(ids)}")
    lines += ["```", "", "Each runner command ran the child commands listed under *Details* "
              "(one fresh process each; `<tmp>` / `<random db>` are created and removed by the "
              "runner).", ""]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (debugging)")
    parser.add_argument("--only", nargs="+", metavar="CASE", help="case id prefixes")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing; rewrite the report from the stored results")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so children get killed too
    cases = build_cases(args.quick)
    if args.list:
        for case in cases:
            print(f"{case.id:32} issue {case.issue:3} {case.title}")
        return 0
    selected = [c for c in cases if not args.only or any(c.id.startswith(p) for p in args.only)]
    if args.report_only:
        selected = []
    if not selected and not args.report_only:
        raise SystemExit(f"no case matches {args.only}")
    if not TL_PYTHON.exists():
        raise SystemExit(f"{TL_PYTHON} missing: create the project venv first (see README)")
    ft_install = ensure_freqtrade_venv()
    store_file = CACHE / ("results-quick.json" if args.quick else "results.json")
    store: dict[str, Any] = json.loads(store_file.read_text()) if store_file.exists() else {}
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    for case in cases:  # earlier results (for the cross-case checks and the report)
        if case.id in store:
            RESULTS_BY_ID[case.id] = store[case.id]["results"]
    for case in selected:
        print(f"\n== {case.id}: {case.title}", flush=True)
        res: dict[str, dict[str, Any]] = {}
        for run in case.runs:
            t0 = time.perf_counter()
            r = run.execute()
            res[run.lib] = r
            shown = r.get("error") or _headline(case, r) if case.metric else \
                json.dumps({k: v for k, v in r.items() if k not in ("case",)})[:300]
            print(f"   {run.lib:12} {shown} {case.unit}  [{time.perf_counter() - t0:.1f} s]",
                  flush=True)
        for reused in ("freqtrade", "raw"):
            if case.ref_freqtrade and reused in RESULTS_BY_ID.get(case.ref_freqtrade, {}):
                res[reused] = dict(RESULTS_BY_ID[case.ref_freqtrade][reused],
                                   reused_from=case.ref_freqtrade)
        RESULTS_BY_ID[case.id] = res
        ratio = case.ratio(res) if case.metric else None
        if ratio is not None:
            print(f"   ratio {ratio:.2f}×", flush=True)
        for text, ok in case.verdicts(res):
            print(f"   {'MET' if ok else ('n/a' if ok is None else 'NOT MET')}: {text}",
                  flush=True)
        store[case.id] = {"results": res,
                          "at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
                          "cmd": " ".join(["python", "bench/run.py", *argv])}
        store_file.write_text(json.dumps(store, indent=1, default=str))
    finished = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
    merged = {cid: v["results"] for cid, v in store.items()}
    ats = {cid: v["at"] for cid, v in store.items()}
    cmds = {cid: v.get("cmd", "python bench/run.py") for cid, v in store.items()}
    report = render(cases, merged, ats, machine_info(), ft_install, cmds, args.quick, started,
                    finished)
    out = CACHE / "BENCHMARKS-quick.md" if args.quick else ROOT / "BENCHMARKS.md"
    out.write_text(report)
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
