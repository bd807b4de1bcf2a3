"""Issue 10: many bots writing to one PostgreSQL database at once.

``--lib tradeledger|freqtrade``: ``--procs`` bot processes (default 8), each persisting
``--trades`` closed trades with two filled orders, one commit per trade (the workload of
persist_trade.py), into the same database. The processes initialise, warm up, then start
together; the rate is all trades / (last end - first start).

``--lib pgbench``: PostgreSQL's own ``pgbench`` with the same number of clients inserting the
same rows (one trade row with RETURNING id and its two order rows per transaction; the rows
are the template written by tradeledger), ``-t`` transactions per client.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from glob import glob
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import PG_HOST, PG_PORT, PG_USER, db_url, emit, load, quiet
from persist_trade import build_trade, template_rows


def worker(lib_name: str, target: str, n: int, tag: str) -> None:
    lib = load(lib_name)
    lib.init_db(db_url(lib_name, target))
    Trade = lib.Trade  # noqa: N806
    for i in range(10):
        Trade.session.add(build_trade(lib, 10_000_000 + i, tag))
        Trade.commit()
    print("ready", flush=True)
    sys.stdin.readline()
    start, cpu = time.time(), time.process_time()
    for i in range(n):
        Trade.session.add(build_trade(lib, i, tag))
        Trade.commit()
    end, cpu = time.time(), time.process_time() - cpu
    print(json.dumps({"start": start, "end": end, "trades": n, "cpu": cpu}), flush=True)


def run_bots(lib_name: str, target: str, procs: int, n: int) -> dict[str, Any]:
    lib = load(lib_name)
    lib.init_db(db_url(lib_name, target))  # schema once, before the bots start
    lib.Trade.session.remove()
    children = [subprocess.Popen(
        [sys.executable, __file__, "--lib", lib_name, "--db", target, "--trades", str(n),
         "--worker", f"w{k}-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for k in range(procs)]
    for child in children:
        line = child.stdout.readline()  # type: ignore[union-attr]
        if line.strip() != "ready":
            raise SystemExit(f"worker failed to start: {line!r}")
    for child in children:
        child.stdin.write("go\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode:
            raise SystemExit(f"worker exited with {child.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    total = sum(r["trades"] for r in results)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    from sqlalchemy import func, select

    count = lib.Trade.session.execute(select(func.count()).select_from(lib.Trade)).scalar()
    cpu = sum(r["cpu"] for r in results)
    return {"trades_total": total, "seconds": round(span, 3),
            "client_cpu_ms_per_trade": round(cpu * 1000 / total, 3),
            "trades_per_s": round(total / span, 1), "rows_trades": count}


def find_pgbench() -> str:
    found = shutil.which("pgbench") or next(iter(sorted(glob("/usr/lib/postgresql/*/bin/pgbench"))),
                                            None)
    if not found:
        raise SystemExit("pgbench not found: apt-get install -y postgresql-contrib")
    return found


def run_pgbench(target: str, procs: int, n: int) -> dict[str, Any]:
    import enum
    from datetime import UTC, datetime

    import psycopg
    from psycopg import sql

    trade_row, order_rows = template_rows(target)
    dbname = target.partition(":")[2]
    conn = psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname)

    def lit(v: Any) -> str:
        if isinstance(v, enum.Enum):
            v = v.name
        elif isinstance(v, datetime):
            v = v.astimezone(UTC).replace(tzinfo=None)
        return sql.Literal(v).as_string(conn)

    tcols = list(trade_row)
    lines = ["BEGIN;",
             f"INSERT INTO trades ({', '.join(tcols)}) VALUES "
             f"({', '.join(lit(trade_row[c]) for c in tcols)}) RETURNING id \\gset"]
    for k, row in enumerate(order_rows):
        cols = list(row)
        vals = []
        for c in cols:
            if c == "ft_trade_id":
                vals.append(":id")
            elif c == "order_id":
                vals.append(f"'pgb' || CAST(:id AS text) || '-{k}'")
            else:
                vals.append(lit(row[c]))
        lines.append(f"INSERT INTO orders ({', '.join(cols)}) VALUES ({', '.join(vals)});")
    lines.append("COMMIT;")
    conn.close()
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
        script = fh.name
    cmd = [find_pgbench(), "-n", "-c", str(procs), "-j", str(min(procs, 2)), "-t", str(n),
           "-f", script, "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER, dbname]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    Path(script).unlink()
    if proc.returncode:
        raise SystemExit(f"pgbench failed: {proc.stderr[-2000:]}")
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout)
    if not m:
        raise SystemExit(f"cannot parse pgbench output: {proc.stdout[-2000:]}")
    return {"trades_total": procs * n, "trades_per_s": round(float(m.group(1)), 1),
            "pgbench_cmd": " ".join([*cmd[:-1], "<db>"]).replace(script, "<script.sql>")}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lib", choices=("tradeledger", "freqtrade", "pgbench"), required=True)
    parser.add_argument("--db", required=True, help="pg:DBNAME")
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--trades", type=int, default=250, help="per process")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    quiet()
    if args.worker is not None:
        worker(args.lib, args.db, args.trades, args.worker)
        return
    if args.lib == "pgbench":
        result = run_pgbench(args.db, args.procs, args.trades)
    else:
        result = run_bots(args.lib, args.db, args.procs, args.trades)
    emit({"case": "multibot", "lib": args.lib, "procs": args.procs,
          "trades_per_proc": args.trades, **result})


if __name__ == "__main__":
    main()
