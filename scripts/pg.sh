#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for meshgate's tests.
#
#   scripts/pg.sh start   init (first time) and start the cluster, create
#                         the database `meshgate`, print its URL
#   scripts/pg.sh url     print the URL of the running cluster
#   scripts/pg.sh halt    stop the server but keep the cluster (a later
#                         `start` brings it back on the same port)
#   scripts/pg.sh stop    stop the server and remove the cluster
#   scripts/pg.sh status  exit 0 if the server is running
#   scripts/pg.sh ensure-installed
#                         exit 0 if server binaries exist (installs them
#                         with apt-get when run as root and they do not)
#
# Everything lives under $PGDATA_ROOT (default /tmp/meshgate-pg): data/
# (the cluster), sock/ (the unix socket), port, url, log. Loopback only,
# trust authentication, superuser `postgres`. Uses the Debian binaries in
# /usr/lib/postgresql/<major>/bin (override with PG_BIN); as root the
# server runs as the `postgres` user (initdb refuses root).
#
# Tests read the URL from MESHGATE_TEST_PG_URL:
#   export MESHGATE_TEST_PG_URL="$(scripts/pg.sh start)"
set -euo pipefail

ROOT="${PGDATA_ROOT:-${TMPDIR:-/tmp}/meshgate-pg}"
DATA="$ROOT/data"
SOCK="$ROOT/sock"
LOG="$ROOT/log"

die() { echo "pg.sh: $*" >&2; exit 1; }

find_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    echo "$PG_BIN"
    return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
      echo "$d"
      return
    fi
  done
  local initdb
  if initdb="$(command -v initdb 2>/dev/null)"; then
    dirname "$initdb"
    return
  fi
  die "no PostgreSQL server binaries found (apt-get install -y postgresql-15, or set PG_BIN)"
}

# Runs a command as the cluster's owner.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  [[ -f "$DATA/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# A TCP port nobody listens on (bash's /dev/tcp: a refused connect means free),
# below the kernel's ephemeral range: `start` after `stop` reuses the port, and
# a port inside that range may meanwhile be some client connection's local end.
free_port() {
  local p tries=0 low=32768
  if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
  fi
  (( low > 12000 )) || die "the ephemeral port range starts at $low; set PG_PORT"
  while (( tries < 200 )); do
    p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (low - 10000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
    tries=$(( tries + 1 ))
  done
  die "no free port found"
}

url() {
  [[ -f "$ROOT/url" ]] || die "no cluster at $ROOT (run: scripts/pg.sh start)"
  cat "$ROOT/url"
}

start() {
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    mkdir -p "$ROOT"
    touch "$ROOT/.meshgate-pg"
    if [[ "$(id -u)" == 0 ]]; then
      id postgres >/dev/null 2>&1 || die "user postgres does not exist (install postgresql)"
      chown postgres: "$ROOT"
      runuser -u postgres -- test -w "$ROOT" \
        || die "user postgres cannot write $ROOT (is a parent directory private?)"
    fi
    as_owner mkdir -p "$DATA" "$SOCK"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >"$ROOT/initdb.log" 2>&1 || { cat "$ROOT/initdb.log" >&2; die "initdb failed"; }
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "unix_socket_directories = '$SOCK'"
      echo "max_connections = 300"
      echo "fsync = on"
      echo "shared_buffers = 64MB"
    } | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
    echo "host all all 127.0.0.1/32 trust" | as_owner tee "$DATA/pg_hba.conf" >/dev/null
    echo "local all all trust" | as_owner tee -a "$DATA/pg_hba.conf" >/dev/null
  fi
  if ! running; then
    local port
    if [[ -f "$ROOT/port" ]]; then
      port="$(cat "$ROOT/port")"
    else
      port="${PG_PORT:-$(free_port)}"
    fi
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -o "-p $port" -w -t 60 start >/dev/null \
      || { tail -n 30 "$LOG" >&2 || true; die "pg_ctl start failed"; }
    echo "$port" >"$ROOT/port"
  fi
  local port
  port="$(cat "$ROOT/port")"
  if ! as_owner "$BIN/psql" -h "$SOCK" -p "$port" -U postgres -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname = 'meshgate'" | grep -q 1; then
    as_owner "$BIN/psql" -h "$SOCK" -p "$port" -U postgres -d postgres -qc "CREATE DATABASE meshgate" >/dev/null
  fi
  echo "postgres://postgres@127.0.0.1:$port/meshgate" >"$ROOT/url"
  cat "$ROOT/url"
}

halt() {
  if running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  fi
}

stop() {
  if [[ -d "$DATA" ]]; then
    halt || as_owner "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  # Only ever remove a directory this script made.
  if [[ -f "$ROOT/.meshgate-pg" ]]; then
    rm -rf "$ROOT"
  elif [[ -e "$ROOT" ]]; then
    echo "pg.sh: $ROOT was not made by pg.sh; left in place" >&2
  fi
}

# Exit 0 when server binaries are present, installing them first if we can.
ensure_installed() {
  if (find_bin) >/dev/null 2>&1; then
    return 0
  fi
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    echo "pg.sh: installing postgresql-15 from Debian" >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >&2 \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 || return 1
    (find_bin) >/dev/null 2>&1
    return
  fi
  return 1
}

if [[ "${1:-}" == ensure-installed ]]; then
  ensure_installed
  exit
fi

BIN="$(find_bin)"
case "${1:-}" in
  start) start ;;
  url) url ;;
  halt) halt ;;
  stop) stop ;;
  status) running ;;
  *) echo "usage: $0 start|url|halt|stop|status|ensure-installed" >&2; exit 2 ;;
esac
