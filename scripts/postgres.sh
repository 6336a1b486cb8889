#!/bin/sh
# A throwaway PostgreSQL 15 cluster for tests and benchmarks (issue 18).
#
#   scripts/postgres.sh start DIR   # prints the URL on its last line, once it accepts connections
#   scripts/postgres.sh stop DIR    # stops it; nothing to do when it is not running
#
# Everything lives in DIR: the data (DIR/data), the log (DIR/postgres.log), the unix socket and
# its lock, DIR/url and DIR/port; dynamic shared memory is mmap'ed files in the data directory
# rather than /dev/shm, so a killed server leaves nothing outside DIR either. It listens on a
# free port on 127.0.0.1 only, and trusts every local connection: it is for tests, never data.
# Run as root, the server runs as the user postgres (Debian's package creates it; else nobody),
# because postgres refuses to run as root: DIR is handed to that user, so every directory above
# DIR must let it through (pytest's tmp_path, mode 0700, does not; a directory in /tmp does).
# scripts/install-postgres.sh installs the binaries.
set -eu

BIN=${SWITCHBOARD_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
SUPERUSER=postgres
DATABASE=postgres

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
ACTION=$1
case $2 in
    /*) DIR=$2 ;;
    *) DIR=$(pwd)/$2 ;;
esac
DATA=$DIR/data
LOG=$DIR/postgres.log

# The user the server runs as, and how to run a command as that user.
if [ "$(id -u)" -eq 0 ]; then
    if id postgres >/dev/null 2>&1; then RUN_USER=postgres; else RUN_USER=nobody; fi
    as_user() { runuser -u "$RUN_USER" -- "$@"; }
else
    RUN_USER=$(id -un)
    as_user() { "$@"; }
fi

running() {
    [ -f "$DATA/postmaster.pid" ] && as_user "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

show_log() {
    if [ -f "$LOG" ]; then
        echo "postgres.sh: the end of $LOG:" >&2
        tail -n 20 "$LOG" >&2
    fi
}

stop() {
    [ -d "$DIR" ] || exit 0
    cd "$DIR"
    if running; then
        as_user "$BIN/pg_ctl" stop -s -D "$DATA" -m fast -w -t 60
    fi
}

# A port from 15000-32767: below Linux's ephemeral range (32768-60999), where the kernel picks
# the source ports of outgoing connections, so a port free now is not taken by one a moment
# later. A port another server holds is found by trying it: the caller tries another.
random_port() {
    echo $((15000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 17768))
}

start() {
    if [ ! -x "$BIN/postgres" ]; then
        echo "postgres.sh: no PostgreSQL 15 in $BIN; run scripts/install-postgres.sh" >&2
        exit 1
    fi
    mkdir -p "$DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown "$RUN_USER" "$DIR"
        chmod 700 "$DIR"
        if ! runuser -u "$RUN_USER" -- test -w "$DIR" -a -x "$DIR"; then
            echo "postgres.sh: user $RUN_USER cannot enter $DIR (postgres refuses to run as" \
                "root): use a directory whose parents it may pass, e.g. under /tmp" >&2
            exit 1
        fi
    fi
    # initdb and pg_ctl fail in a working directory their user cannot read (e.g. /root).
    cd "$DIR"

    if running; then
        # Started already: the same answer as the first start.
        cat "$DIR/url"
        return
    fi

    if [ ! -f "$DATA/PG_VERSION" ]; then
        # --no-sync: a crash during initdb only loses a throwaway cluster; the server itself
        # keeps fsync on, so commits cost what they cost in production.
        if ! as_user "$BIN/initdb" -D "$DATA" -U "$SUPERUSER" --auth=trust --encoding=UTF8 \
            --locale=C --no-sync --no-instructions >"$DIR/initdb.log" 2>&1
        then
            echo "postgres.sh: initdb failed:" >&2
            cat "$DIR/initdb.log" >&2
            exit 1
        fi
        # Only the unix socket (in DIR) and 127.0.0.1: no ::1, no replication entries.
        as_user sh -c 'cat >"$1"' sh "$DATA/pg_hba.conf" <<EOF
local all all trust
host all all 127.0.0.1/32 trust
EOF
        # The socket's path must fit in 107 bytes; a longer DIR does without it (the URL is TCP).
        socket_dir=$DIR
        if [ ${#DIR} -gt 90 ]; then
            echo "postgres.sh: $DIR is too long for a unix socket; TCP only" >&2
            socket_dir=
        fi
        as_user sh -c 'cat >>"$1"' sh "$DATA/postgresql.conf" <<EOF

# scripts/postgres.sh: a throwaway cluster for tests and benchmarks.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$socket_dir'
# Room for a test session's pools, or a benchmark's pools of up to 100 connections.
max_connections = 200
shared_buffers = 128MB
dynamic_shared_memory_type = mmap
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
EOF
    fi

    attempt=1
    # A cluster started again in the same DIR keeps its port, so its URL stays the same (a
    # test restarts the database under running nodes); another port only if that one is taken.
    previous_port=$(cat "$DIR/port" 2>/dev/null || true)
    while :; do
        if [ "$attempt" -eq 1 ] && [ -n "$previous_port" ]; then
            port=$previous_port
        else
            port=$(random_port)
        fi
        if as_user "$BIN/pg_ctl" start -s -D "$DATA" -l "$LOG" -w -t 60 -o "-p $port" >&2; then
            break
        fi
        if [ "$attempt" -lt 10 ] && tail -n 20 "$LOG" | grep -q "could not bind\|could not create lock"
        then
            attempt=$((attempt + 1))
            continue
        fi
        echo "postgres.sh: the server did not start" >&2
        show_log
        exit 1
    done
    # pg_ctl -w returned once the server accepts connections; this proves it over TCP.
    if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U "$SUPERUSER" -d "$DATABASE" -t 30; then
        echo "postgres.sh: the server started but does not answer on 127.0.0.1:$port" >&2
        show_log
        exit 1
    fi
    url="postgresql://$SUPERUSER@127.0.0.1:$port/$DATABASE"
    echo "$port" >"$DIR/port"
    echo "$url" >"$DIR/url"
    echo "$url"
}

case $ACTION in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
