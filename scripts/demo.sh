#!/usr/bin/env bash
# The main job: run the tradeledger demo on the embedded SQLite default (tradeledger.sqlite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/tradeledger demo "$@"
