#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests (trust auth, a free port).
#
#   scripts/pg-test-server.sh start [DIR]   start one; print its URL on stdout (state kept in DIR)
#   scripts/pg-test-server.sh stop DIR      stop it and remove DIR
#   scripts/pg-test-server.sh pause DIR     stop it, keeping data and port; resume DIR starts it
#   scripts/pg-test-server.sh run -- CMD…   start one, run CMD with SIPSWITCH_TEST_PG_URL set, stop
#
# The URL is postgresql+asyncpg://postgres@127.0.0.1:PORT/sipswitch_test. Running as root, the
# server runs as the `postgres` user (initdb refuses root). Binaries: $PG_BIN, else the newest
# /usr/lib/postgresql/*/bin.
set -euo pipefail

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
[ -x "$PG_BIN/initdb" ] || { echo "pg-test-server: no PostgreSQL binaries (install postgresql)" >&2; exit 3; }
DB_NAME=sipswitch_test

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local dir="${1:-}"
  if [ -z "$dir" ]; then dir="$(mktemp -d /tmp/sipswitch-pg.XXXXXX)"; else mkdir -p "$dir"; fi
  dir="$(cd "$dir" && pwd)"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  local port attempt
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    if as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
        start >/dev/null; then
      break
    fi
    port=""
  done
  [ -n "$port" ] || { cat "$dir/server.log" >&2; exit 1; }
  as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DB_NAME"
  echo "$port" >"$dir/port"
  echo "postgresql+asyncpg://postgres@127.0.0.1:$port/$DB_NAME" | tee "$dir/url"
  echo "pg-test-server: running in $dir (stop: $0 stop $dir)" >&2
}

stop() {
  local dir="${1:?usage: $0 stop DIR}"
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true
  fi
  case "$dir" in
    /tmp/sipswitch-pg.*|*/var/pg-test*) rm -rf "$dir" ;;
    *) echo "pg-test-server: stopped; left $dir in place" >&2 ;;
  esac
}

pause() {  # stop the server but keep its data and port (outage tests)
  local dir="${1:?usage: $0 pause DIR}"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
}

resume() {  # start a paused server again on the port it had
  local dir="${1:?usage: $0 resume DIR}" port
  port="$(cat "$dir/port")"
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" \
    start >/dev/null
}

run() {
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || { echo "usage: $0 run -- CMD..." >&2; exit 2; }
  local url status=0
  RUN_DIR="$(mktemp -d /tmp/sipswitch-pg.XXXXXX)"
  trap 'stop "$RUN_DIR"' EXIT
  url="$(start "$RUN_DIR")"
  SIPSWITCH_TEST_PG_URL="$url" "$@" || status=$?
  return "$status"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  pause) shift; pause "$@" ;;
  resume) shift; resume "$@" ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 start [DIR] | stop DIR | pause DIR | resume DIR | run -- CMD..." >&2; exit 2 ;;
esac
