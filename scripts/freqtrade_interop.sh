#!/usr/bin/env bash
# Interoperability: does the real freqtrade 2026.9 read a database that tradeledger created or
# upgraded, with the same trades, orders and profits?
#
#   bash scripts/freqtrade_interop.sh ensure            # create/reuse the freqtrade venv, print its python
#   bash scripts/freqtrade_interop.sh read DB_URL OUT   # freqtrade reads DB_URL, writes JSON to OUT
#
# The virtualenv (freqtrade==2026.9, never a dependency of tradeledger) is cached at
# $TRADELEDGER_FT_VENV; by default the benchmark's bench/.venv-freqtrade when it is usable, else
# ~/.cache/tradeledger/freqtrade-2026.9 (outside the work tree, so fresh clones reuse it). The full
# `pip install freqtrade==2026.9` is tried first; if it fails, `--no-deps` plus what
# freqtrade.persistence imports. tests/test_migrations_interop.py drives this script.
set -euo pipefail
cd "$(dirname "$0")/.."
FT_VERSION=2026.9
if [ -n "${TRADELEDGER_FT_VENV:-}" ]; then
  VENV="$TRADELEDGER_FT_VENV"
elif [ -x bench/.venv-freqtrade/bin/python ] && bench/.venv-freqtrade/bin/python -c \
    "import freqtrade, psycopg2; assert freqtrade.__version__ == '$FT_VERSION'" >/dev/null 2>&1; then
  VENV=bench/.venv-freqtrade
else
  VENV="${XDG_CACHE_HOME:-$HOME/.cache}/tradeledger/freqtrade-$FT_VERSION"
fi
PY="$VENV/bin/python"
MIN_DEPS=(SQLAlchemy==2.1.9 ccxt pandas numpy python-rapidjson orjson jsonschema rich humanize
  cachetools requests httpx aiohttp python-dateutil pyarrow psutil joblib questionary
  prompt-toolkit technical ft-pandas-ta colorama sdnotify schedule fastapi pydantic pyjwt
  websockets janus python-telegram-bot cryptography tabulate psycopg2-binary)

ft_ok() {
  [ -x "$PY" ] && "$PY" -c "import freqtrade, psycopg2; assert freqtrade.__version__ == '$FT_VERSION'" >/dev/null 2>&1
}

ensure_pymysql() {  # MariaDB/MySQL driver for freqtrade (not one of its own dependencies)
  "$PY" -c "import pymysql" >/dev/null 2>&1 || "$PY" -m pip install -q pymysql >&2
}

ensure() {
  if ft_ok; then ensure_pymysql; echo "$PY"; return 0; fi
  local base="${PYTHON:-python3}"
  mkdir -p "$(dirname "$VENV")"
  "$base" -m venv --clear "$VENV" >&2
  local log="$VENV.install.log"
  if ! "$PY" -m pip install -q "freqtrade==$FT_VERSION" psycopg2-binary >"$log" 2>&1 || ! ft_ok; then
    echo "full install of freqtrade==$FT_VERSION failed (see $log); trying --no-deps" >&2
    "$PY" -m pip install -q --no-deps "freqtrade==$FT_VERSION" >>"$log" 2>&1
    "$PY" -m pip install -q "${MIN_DEPS[@]}" >>"$log" 2>&1
  fi
  ft_ok || { echo "freqtrade venv unusable, see $log" >&2; return 1; }
  ensure_pymysql
  echo "$PY"
}

read_db() {
  local url="$1" out="$2"
  "$(ensure)" - "$url" "$out" <<'PYEOF'
import json, sys
from sqlalchemy import select
from freqtrade.persistence import KeyValueStore, Order, Trade, init_db
from freqtrade.persistence.pairlock import PairLock
from freqtrade.persistence.custom_data import CustomDataWrapper

url, out = sys.argv[1], sys.argv[2]
init_db(url)
trades = Trade.session.scalars(select(Trade).order_by(Trade.id)).all()
data = {
    "trades": {str(t.id): {
        "to_json": t.to_json(),
        "orders": [o.to_json(t.entry_side) for o in t.orders],
        "close_profit_abs": t.close_profit_abs,
        "realized_profit": t.realized_profit,
        "custom_data": [{"key": c.cd_key, "type": c.cd_type, "value": c.value}
                        for c in CustomDataWrapper.get_custom_data(trade_id=t.id)],
    } for t in trades},
    "total_closed_profit": Trade.get_total_closed_profit(),
    "orders": len(Trade.session.scalars(select(Order)).all()),
    "pairlocks": [lock.to_json() for lock in PairLock.get_all_locks()],
    "key_value_store": {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                        for k, v in ((k, KeyValueStore.get_value(k)) for k in
                                     ("fixture_str", "fixture_int", "fixture_float"))},
}
with open(out, "w") as fh:
    json.dump(data, fh, default=str)
PYEOF
}

case "${1:-}" in
  ensure) ensure ;;
  read) shift; read_db "$@" ;;
  *) echo "usage: $0 ensure | read DB_URL OUT_JSON" >&2; exit 2 ;;
esac
