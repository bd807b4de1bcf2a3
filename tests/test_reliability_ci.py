"""Every reliability campaign at reduced size (RELIABILITY.md has the full-size figures).

Each campaign runs as its own process, exactly as by hand, with ``--allow-known``: it must
exit 0, i.e. find no violation other than the known, reported ones listed in
``reliability/known_issues.py``. Backends whose server is down are left out (skipped with
the reason), except under ``CI=true`` where that is a failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI, backend_unavailable

ROOT = Path(__file__).resolve().parents[1]


def _servers() -> list[str]:
    chosen = ["sqlite"]
    for backend in ("postgresql", "mariadb"):
        reason = backend_unavailable(backend)
        if reason is None:
            chosen.append(backend)
        elif IN_CI:
            pytest.fail(f"backend {backend} unavailable under CI=true: {reason}")
    return chosen


def _run(campaign: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    res = subprocess.run([sys.executable, "-m", f"reliability.{campaign}", "--allow-known",
                          *args], capture_output=True, text=True, cwd=ROOT, timeout=timeout,
                         check=False)
    out = res.stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("JSON ")), None)
    assert res.returncode == 0 and line is not None, (
        f"reliability.{campaign} exit {res.returncode}\n{out[-4000:]}\n{res.stderr[-4000:]}")
    figures: dict[str, Any] = json.loads(line[5:])
    assert figures["new_violations"] == 0
    return figures


def test_kill9_reduced() -> None:
    backends = _servers()
    fig = _run("kill9", "--size", "3", "--seed", "11", "--backends", ",".join(backends))
    for b in backends:
        assert fig[f"{b}.kills"] == 3
        assert fig[f"{b}.acknowledged_commits_checked"] > 0


def test_soak_reduced() -> None:
    backends = [b for b in _servers() if b in ("sqlite", "postgresql")]
    fig = _run("soak", "--size", "300", "--seconds", "2", "--seed", "5", "--backends",
               ",".join(backends))
    assert fig["sqlite.database_is_locked_errors"] == 0
    if "postgresql" in backends:
        assert fig["postgresql.pool_checked_out_after"] == 0
        assert fig["postgresql.idle_in_transaction_after"] == 0


def test_manybots_reduced() -> None:
    if "postgresql" not in _servers():
        pytest.skip("PostgreSQL unavailable")
    fig = _run("manybots", "--size", "160")
    assert fig["bots"] == 8 and fig["second_instance_of_running_bot"] == {"refused": 8}


def test_faults_reduced() -> None:
    fig = _run("faults", "--size", "8", "--seed", "7", "--backends", ",".join(_servers()))
    assert fig["disk_full.reported_disk_full"] >= 1


def test_poison_reduced() -> None:
    backends = _servers()
    fig = _run("poison", "--size", "1", "--backends", ",".join(backends))
    for b in backends:
        assert fig[f"{b}.rounds_ok"] == 1 and fig[f"{b}.newer_schema_refused_unchanged"]


def test_security_reduced() -> None:
    fig = _run("security", "--size", "1", "--backends", ",".join(_servers()))
    assert fig["password_leaks"] == 0


def test_fuzz_reduced() -> None:
    fig = _run("fuzz", "--size", "25")
    assert fig["examples_per_entry_point"] == 25


def test_a_violation_makes_a_campaign_fail(tmp_path: Path) -> None:
    """The checks can fail: an acknowledged trade that is not in the database is reported."""
    from reliability.common import Figures, new_database
    from reliability.kill9 import Model, verify

    from tradeledger.db import close_db, init_db

    db = new_database("sqlite", tmp_path)
    init_db(db.url)
    close_db()
    model = Model()
    model.apply({"k": "trade", "tid": 4242, "pair": "X/USDT"})
    model.apply({"k": "lock", "lid": 7, "pair": "X/USDT", "end": "2030-01-01T00:00:00+00:00",
                 "reason": "r"})
    fig = Figures("sanity")
    verify(db, model, fig, "sanity")
    assert any("acknowledged trade 4242 missing" in v for v in fig.violations)
    assert any("acknowledged lock 7 lost" in v for v in fig.violations)
    assert fig.report(open("/dev/null", "w")) == 1


def test_known_issues_only_excuse_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    from reliability import known_issues
    from reliability.common import Figures

    monkeypatch.setattr(known_issues, "KNOWN_ISSUES", (known_issues.KnownIssue(
        "example", r"identifier was silently cut", "an example entry for this test"),))
    fig = Figures("sanity", allow_known=True)
    fig.violation("sqlite Trade.pair: a 1000-character identifier was silently cut to 25")
    with open("/dev/null", "w") as sink:
        assert fig.report(sink) == 0
        fig.violation("something new")
        assert fig.report(sink) == 1
        fig.allow_known = False
        fig.violations = fig.violations[:1]
        assert fig.report(sink) == 1
