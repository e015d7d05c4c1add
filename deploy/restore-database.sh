#!/bin/sh
# Restore VitalBridge's PostgreSQL from its pgBackRest repository into a fresh data
# directory, start it and wait until it takes writes (recovery over, promoted).
# Run as the PostgreSQL OS user (runuser -u postgres --), with pgBackRest's settings and the
# repository's passphrase in the environment:
#
#   PGBACKREST_CONFIG=/etc/pgbackrest/pgbackrest.conf  (pgBackRest's own variable)
#   PGBACKREST_REPO1_CIPHER_PASS=...                   (from the secrets store)
#   deploy/restore-database.sh DATA_DIR PORT [TARGET_TIME]
#
# DATA_DIR: a new or empty folder. TARGET_TIME ('2026-12-07 13:15:36+00'): recover up to
# the last transaction committed at or before it (point in time); without it, replay
# every archived WAL segment (the latest state the archive holds).
# Optional: PGBACKREST_STANZA (default vitalbridge); PG_BIN (default the newest
# /usr/lib/postgresql/*/bin); PG_OPTIONS, server settings for pg_ctl -o (the restored
# postgresql.conf is the old primary's); PGHOST, the socket folder psql connects to;
# RESTORE_OPTIONS, more options of pgbackrest restore (--set=LABEL --type=immediate
# --target-action=promote: one backup set, no WAL after it; --archive-mode=off: a copy
# that must not archive into the primary's repository).
set -eu

data=${1:?usage: restore-database.sh DATA_DIR PORT [TARGET_TIME]}
port=${2:?usage: restore-database.sh DATA_DIR PORT [TARGET_TIME]}
target=${3:-}
: "${PGBACKREST_STANZA:=vitalbridge}"
export PGBACKREST_STANZA
bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}

mkdir -p "$data"
chmod 0700 "$data"
# The server's log during recovery, inside the data folder: its parent (on Debian
# /var/lib/postgresql/VERSION) may be root's.
log="$data/restore.log"
if [ -n "$target" ]; then
    # shellcheck disable=SC2086 # RESTORE_OPTIONS is a list of options
    pgbackrest restore --pg1-path="$data" --type=time --target="$target" \
        --target-action=promote ${RESTORE_OPTIONS:-}
else
    # shellcheck disable=SC2086
    pgbackrest restore --pg1-path="$data" ${RESTORE_OPTIONS:-}
fi
echo "restored into $data; starting it on port $port (replaying the archived WAL)"
stopped() {
    echo "the restored server did not start, or stopped during recovery (a target" \
        "the archived WAL never reaches); the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
}
"$bin/pg_ctl" -D "$data" -o "-c port=$port ${PG_OPTIONS:-}" -l "$log" -w \
    -t "${START_TIMEOUT:-3600}" start || stopped
# pg_ctl returns once the server answers; it takes writes only when recovery is over.
until [ "$("$bin/psql" -X -A -t -q -p "$port" -d postgres \
        -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
    # A target the archived WAL never reaches stops the server: do not wait forever.
    "$bin/pg_ctl" -D "$data" status >/dev/null || stopped
    sleep 0.2
done
echo "restored database on port $port takes writes (see $log)"
