#!/usr/bin/env bash
# The whole test suite on every backend (SQLite memory and file, PostgreSQL, MariaDB).
# Starts PostgreSQL / MariaDB if they are installed here but not running.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
fi
if [ -x /usr/sbin/mariadbd ] && ! (command -v mysqladmin >/dev/null && mysqladmin -uroot -h127.0.0.1 status >/dev/null 2>&1); then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  for _ in $(seq 1 30); do mysqladmin -uroot -h127.0.0.1 status >/dev/null 2>&1 && break; sleep 1; done
fi
# the PgBouncer tests need its binary: install it once here, not from two pytest workers at once
sh scripts/ensure-pgbouncer.sh >/dev/null || echo "pgbouncer unavailable; its tests will say why" >&2
exec .venv/bin/python -m pytest -n 2 --dist loadgroup "$@"
