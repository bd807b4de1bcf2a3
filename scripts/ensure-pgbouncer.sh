#!/bin/sh
# Make sure the pgbouncer binary is available (tests start their own instance with a generated
# config; the Debian service is never used). Prints the binary's path on success.
# Installs the Debian package when missing and we are root; exits 1 otherwise.
set -eu
find_bin() {
    command -v pgbouncer 2>/dev/null && return 0
    for p in /usr/sbin/pgbouncer /usr/bin/pgbouncer /usr/local/bin/pgbouncer; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}
if find_bin; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
    echo "pgbouncer is not installed and we are not root: apt-get install pgbouncer" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# one installer at a time (pytest workers may ask together), and wait for another apt's lock
exec 9>/tmp/ensure-pgbouncer.lock
flock -w 600 9 || { echo "another pgbouncer install held the lock for 10 minutes" >&2; exit 1; }
if find_bin; then exit 0; fi
APT="apt-get -o DPkg::Lock::Timeout=300"
# the package's postinst may try to start its service: forbid that in containers
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
if ! $APT install -y -q --no-install-recommends pgbouncer >/tmp/ensure-pgbouncer.log 2>&1; then
    $APT update -q >>/tmp/ensure-pgbouncer.log 2>&1 || true
    $APT install -y -q --no-install-recommends pgbouncer >>/tmp/ensure-pgbouncer.log 2>&1 || {
        echo "installing pgbouncer failed, see /tmp/ensure-pgbouncer.log" >&2; exit 1; }
fi
# never leave the packaged service running (tests run their own on a loopback port)
if command -v service >/dev/null 2>&1; then service pgbouncer stop >/dev/null 2>&1 || true; fi
find_bin
