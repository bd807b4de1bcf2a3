"""The schema created by init_db matches freqtrade 2026.9's DDL, checked by inspection."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine

from tests.conftest import SHARED_DIR, create_server_database, require_backend
from tradeledger.db import init_db

REFERENCE_TABLES = ("trades", "orders", "pairlocks", "KeyValueStore", "trade_custom_data",
                    "wallet_history")
DDL_DIR = SHARED_DIR / "reference"


def type_family(t: Any) -> str:
    name = type(t).__name__.upper()
    text_ = str(t).upper()
    if "BOOL" in name or text_ == "TINYINT(1)" or name == "TINYINT":
        return "bool"
    if "ENUM" in name or (text_.startswith("VARCHAR(7)")):
        return "enum-or-varchar7"
    if any(k in name for k in ("FLOAT", "DOUBLE", "REAL", "NUMERIC")):
        return "float"
    if "INT" in name:
        return "int"
    if "DATETIME" in name or "TIMESTAMP" in name:
        return "datetime"
    if name == "TEXT" or ("TEXT" in text_ and "VARCHAR" not in text_):
        return "text"
    if "VARCHAR" in name or "STRING" in name:
        return f"varchar({t.length})"
    return name


def describe(engine: Engine, *, project_indexes: bool = False) -> dict[str, Any]:
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in REFERENCE_TABLES:
        cols = {c["name"]: (type_family(c["type"]), bool(c["nullable"]))
                for c in insp.get_columns(table)}
        pk = tuple(insp.get_pk_constraint(table)["constrained_columns"])
        indexes = {
            ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in insp.get_indexes(table)
            if project_indexes or not str(ix["name"]).startswith("tl_")
        }
        uniques = {u["name"]: tuple(u["column_names"]) for u in insp.get_unique_constraints(table)}
        # MariaDB reports unique constraints as unique indexes too: fold them together
        for name in list(indexes):
            if name in uniques:
                del indexes[name]
        fks = sorted((tuple(fk["constrained_columns"]), fk["referred_table"],
                      tuple(fk["referred_columns"])) for fk in insp.get_foreign_keys(table))
        out[table] = {"columns": cols, "pk": pk, "indexes": indexes, "uniques": uniques,
                      "fks": fks}
    return out


def reference_engine(backend: str, tmp_path: Any) -> tuple[Engine, Any]:
    if backend.startswith("sqlite"):
        eng = create_engine(f"sqlite:///{tmp_path / 'reference.sqlite'}")
        ddl = (DDL_DIR / "freqtrade-2026.9-ddl-sqlite.sql").read_text()
        raw = eng.raw_connection()
        raw.executescript(ddl)  # type: ignore[attr-defined]
        raw.close()
        return eng, lambda: None
    if backend == "postgresql":
        url, drop = create_server_database("postgresql")
        eng = create_engine(url)
        ddl = (DDL_DIR / "freqtrade-2026.9-ddl-postgresql.sql").read_text()
        with eng.begin() as conn:
            for stmt in [s for s in ddl.split(";") if s.strip()]:
                conn.execute(text(stmt))
        return eng, drop
    # MariaDB has no reference DDL: translate the SQLite reference mechanically.
    url, drop = create_server_database("mariadb")
    eng = create_engine(url)
    ddl = (DDL_DIR / "freqtrade-2026.9-ddl-sqlite.sql").read_text()
    ddl = ddl.replace('"', "`")
    ddl = re.sub(r"(?m)^\s+id INTEGER NOT NULL,", "\tid INTEGER NOT NULL AUTO_INCREMENT,", ddl)
    ddl = ddl.replace("DATETIME", "DATETIME(6)").replace("FLOAT", "DOUBLE")
    with eng.begin() as conn:
        for stmt in [s for s in ddl.split(";") if s.strip()]:
            conn.execute(text(stmt))
    return eng, drop


def test_schema_matches_reference_ddl(backend: str, backend_name: str, tmp_path: Any) -> None:
    engine = init_db(backend)
    ours = describe(engine)
    ref_engine, drop = reference_engine(backend_name, tmp_path)
    try:
        theirs = describe(ref_engine)
    finally:
        ref_engine.dispose()
        drop()
    for table in REFERENCE_TABLES:
        assert ours[table]["columns"] == theirs[table]["columns"], table
        assert ours[table]["pk"] == theirs[table]["pk"], table
        assert ours[table]["indexes"] == theirs[table]["indexes"], table
        assert ours[table]["uniques"] == theirs[table]["uniques"], table
        assert ours[table]["fks"] == theirs[table]["fks"], table


def test_postgresql_native_enum_and_exact_types(tmp_path: Any) -> None:
    require_backend("postgresql")
    url, drop = create_server_database("postgresql")
    try:
        engine = init_db(url)
        with engine.connect() as conn:
            labels = conn.execute(text(
                "SELECT e.enumlabel FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid "
                "WHERE t.typname = 'tradingmode' ORDER BY e.enumsortorder")).scalars().all()
            assert labels == ["SPOT", "MARGIN", "FUTURES"]
            rows = conn.execute(text(
                "SELECT table_name, column_name, data_type, character_maximum_length "
                "FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name IN ('trades','orders','pairlocks','KeyValueStore',"
                "'trade_custom_data','wallet_history')")).all()
        ours = {(r[0], r[1]): (r[2], r[3]) for r in rows}
        ref, drop_ref = reference_engine("postgresql", tmp_path)
        try:
            with ref.connect() as conn:
                rows = conn.execute(text(
                    "SELECT table_name, column_name, data_type, character_maximum_length "
                    "FROM information_schema.columns WHERE table_schema = 'public'")).all()
        finally:
            ref.dispose()
            drop_ref()
        theirs = {(r[0], r[1]): (r[2], r[3]) for r in rows}
        assert {k: v for k, v in ours.items() if k in theirs} == theirs
        assert set(theirs) <= set(ours)
    finally:
        drop()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///x.sqlite"])
def test_tables_created_on_first_run(url: str, tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    engine = init_db(url)
    assert set(REFERENCE_TABLES) <= set(inspect(engine).get_table_names())
