#!/usr/bin/env bash
# Run the test suite (a representative subset by default, --full for everything) under several
# process time zones: UTC, America/New_York, Asia/Kolkata, Australia/Lord_Howe.
# tests/test_timezones.py also crosses DST changes with time-machine in every zone.
#
#   scripts/test-timezones.sh            # subset, SQLite backends (about a minute per zone)
#   scripts/test-timezones.sh --full     # the whole suite in every zone
#   TRADELEDGER_TEST_BACKENDS=sqlite-memory,sqlite-file,postgresql,mariadb scripts/test-timezones.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
ZONES=(UTC America/New_York Asia/Kolkata Australia/Lord_Howe)
SUBSET=(
  tests/test_timezones.py
  tests/test_timeframe.py
  tests/test_pairlocks.py
  tests/test_keyvalue_customdata.py
  tests/test_order_validation.py
  tests/test_order_monotonic.py
  tests/test_trade_behaviour.py
  tests/test_recovery_report.py
  tests/test_db.py
)
if [[ "${1:-}" == "--full" ]]; then
  TARGETS=(tests)
else
  TARGETS=()
  for t in "${SUBSET[@]}"; do [[ -e "$t" ]] && TARGETS+=("$t"); done
  export TRADELEDGER_TEST_BACKENDS=${TRADELEDGER_TEST_BACKENDS:-sqlite-memory,sqlite-file}
fi
status=0
for zone in "${ZONES[@]}"; do
  echo "=== TZ=$zone: ${TARGETS[*]}"
  if ! TZ="$zone" "$PY" -m pytest -q -p no:cacheprovider "${TARGETS[@]}"; then
    echo "!!! failures under TZ=$zone"
    status=1
  fi
done
exit $status
