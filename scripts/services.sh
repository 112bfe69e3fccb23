#!/usr/bin/env bash
# Makes sure the Postgres and NATS (JetStream) that Chime needs are reachable.
#
#   scripts/services.sh         check both; install/start whichever is missing
#   scripts/services.sh stop    stop the instances this script started (data in .chime/ is kept)
#
# It reads DATABASE_URL and NATS_URL (same defaults as the server). A service that
# already answers is left alone, so this is safe to run any number of times. A
# missing one is installed from Debian packages if needed and started locally,
# listening on the host/port of its URL, with its data and log under .chime/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/node-env.sh"
STATE="$ROOT/.chime"
DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/chime}"
NATS_URL="${NATS_URL:-nats://127.0.0.1:4222}"

say() { echo "services: $*"; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

# host and port of a URL (node is always there; bash cannot parse URLs reliably).
url_host_port() { # url default-port
  node -e 'const u = new URL(process.argv[1]); console.log(u.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1", u.port || process.argv[2])' "$1" "$2"
}
read -r PG_HOST PG_PORT <<<"$(url_host_port "$DATABASE_URL" 5432)"
read -r NATS_HOST NATS_PORT <<<"$(url_host_port "$NATS_URL" 4222)"

is_local() { [[ "$1" == 127.* || "$1" == localhost || "$1" == ::1 ]]; }

# Root runs things as is; anyone else needs sudo for apt-get.
as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=""
apt_install() {
  [[ -n "$APT_UPDATED" ]] || { as_root apt-get update -qq; APT_UPDATED=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# --- Postgres -----------------------------------------------------------------

pg_bin_dir() { # newest server version installed by the Debian packages, else PATH
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then echo "$dir"
  elif command -v initdb >/dev/null; then dirname "$(command -v initdb)"
  fi
}

pg_up() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
  else # no client tools yet: an open TCP port is the best we can tell
    timeout 2 bash -c "exec 3<>/dev/tcp/$PG_HOST/$PG_PORT" 2>/dev/null
  fi
}

# initdb and postgres refuse to run as root: as root, run them as the postgres user.
# (From /: the postgres user may not be allowed into the current directory.)
as_pg() { if [[ $EUID -eq 0 ]]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# The data directory. Normally .chime/postgres; but the postgres user may not be
# allowed to enter the checkout (e.g. a clone under /root or a 0700 mktemp dir), so
# then the data lives under the postgres user's home and .chime/postgres links to it.
pg_data_dir() {
  local dir="$STATE/postgres"
  if [[ -L "$dir" ]]; then readlink -f "$dir"; return; fi
  if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$STATE"; then
    local home
    home="$(getent passwd postgres | cut -d: -f6)"
    local alt="$home/chime/$(echo "$ROOT" | md5sum | cut -c1-12)"
    install -d -o postgres -g postgres "$home/chime" "$alt"
    ln -sfn "$alt" "$dir"
    echo "$alt"
    return
  fi
  echo "$dir"
}

start_postgres() {
  is_local "$PG_HOST" || die "Postgres at $PG_HOST:$PG_PORT is not reachable, and it is not on this machine, so it cannot be started here"
  local bin
  bin="$(pg_bin_dir)"
  if [[ -z "$bin" ]]; then
    say "postgres: not installed; installing the Debian package postgresql"
    # Stop the package from creating and starting its own cluster (5432, password
    # auth for TCP): we start one below, configured the way Chime expects.
    apt_install postgresql-common
    as_root sed -ri 's/^#?\s*create_main_cluster\s*=.*/create_main_cluster = false/' /etc/postgresql-common/createcluster.conf
    apt_install postgresql
    bin="$(pg_bin_dir)"
    [[ -n "$bin" ]] || die "postgresql installed but initdb not found under /usr/lib/postgresql/*/bin"
  fi
  if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    die "running as root, but there is no 'postgres' user to run the server as"
  fi

  mkdir -p "$STATE"
  local data log
  data="$(pg_data_dir)"
  log="$STATE/postgres.log"
  if [[ ! -s "$data/PG_VERSION" ]]; then
    mkdir -p "$data"
    [[ $EUID -ne 0 ]] || chown postgres:postgres "$data"
    chmod 700 "$data"
    # trust auth and superuser "postgres": the URL carries no password; this is a dev instance.
    as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$STATE/initdb.log" 2>&1 \
      || { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
  fi
  # pg_ctl opens the log as the server's user: give it a file it may write (beside
  # the data when that had to move, with a link to it from .chime/).
  if [[ -L "$STATE/postgres" ]]; then log="$data.log"; ln -sfn "$log" "$STATE/postgres.log"; fi
  touch "$log"
  [[ $EUID -ne 0 ]] || chown postgres:postgres "$log"
  # TCP only on the URL's host/port; no Unix socket, so no clash with a system cluster's.
  as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-c listen_addresses=$PG_HOST -p $PG_PORT -c unix_socket_directories=''" start >/dev/null \
    || { tail -n 20 "$log" >&2 || true; die "Postgres did not start (log: $log)"; }
  say "postgres: started a local instance on $PG_HOST:$PG_PORT (data $data, log $log)"
}

# --- NATS ---------------------------------------------------------------------

# The first line a NATS server sends is INFO {json}; it says whether JetStream is on.
nats_info() {
  timeout 3 bash -c "exec 3<>/dev/tcp/$NATS_HOST/$NATS_PORT && read -r -t 2 line <&3 && echo \"\$line\"" 2>/dev/null
}

start_nats() {
  is_local "$NATS_HOST" || die "NATS at $NATS_HOST:$NATS_PORT is not reachable, and it is not on this machine, so it cannot be started here"
  if ! command -v nats-server >/dev/null; then
    say "nats: not installed; installing the Debian package nats-server"
    apt_install nats-server
    command -v nats-server >/dev/null || die "nats-server installed but not on PATH"
    # Where systemd runs, the package starts a server of its own: use it if it fits.
    local info
    info="$(nats_info || true)"
    if [[ "$info" == *'"jetstream":true'* ]]; then
      say "nats: installed; the package's server (JetStream on) answers at $NATS_HOST:$NATS_PORT"
      return
    elif [[ "$info" == INFO* ]]; then
      die "installed nats-server; its service took $NATS_HOST:$NATS_PORT without JetStream: stop it (systemctl disable --now nats-server) and run this again"
    fi
  fi
  mkdir -p "$STATE/nats"
  # setsid + nohup: the server outlives this script and the terminal it ran in.
  setsid nohup nats-server -js -sd "$STATE/nats" -a "$NATS_HOST" -p "$NATS_PORT" \
    -l "$STATE/nats.log" -P "$STATE/nats.pid" </dev/null >/dev/null 2>&1 &
  for _ in $(seq 1 50); do # up to ~10 s
    if nats_info | grep -q '"jetstream":true'; then
      say "nats: started a local nats-server with JetStream on $NATS_HOST:$NATS_PORT (data $STATE/nats, log $STATE/nats.log)"
      return
    fi
    sleep 0.2
  done
  tail -n 20 "$STATE/nats.log" >&2 || true
  die "nats-server did not come up on $NATS_HOST:$NATS_PORT (log: $STATE/nats.log)"
}

# --- stop ---------------------------------------------------------------------

stop_all() {
  local bin data
  bin="$(pg_bin_dir)"
  if [[ -e "$STATE/postgres/postmaster.pid" && -n "$bin" ]]; then
    data="$(readlink -f "$STATE/postgres")"
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null && say "postgres: stopped the instance in $data"
  else
    say "postgres: no instance of ours is running"
  fi
  if [[ -s "$STATE/nats.pid" ]] && kill "$(cat "$STATE/nats.pid")" 2>/dev/null; then
    rm -f "$STATE/nats.pid"
    say "nats: stopped the nats-server of .chime/"
  else
    say "nats: no nats-server of ours is running"
  fi
}

# --- main ---------------------------------------------------------------------

if [[ "${1:-}" == stop ]]; then stop_all; exit 0; fi

if pg_up; then
  say "postgres: reachable at $PG_HOST:$PG_PORT"
else
  start_postgres
fi

info="$(nats_info || true)"
if [[ "$info" == *'"jetstream":true'* ]]; then
  say "nats: reachable at $NATS_HOST:$NATS_PORT, JetStream enabled"
elif [[ "$info" == INFO* ]]; then
  die "a NATS server answers at $NATS_HOST:$NATS_PORT but JetStream is off; restart it with -js, or point NATS_URL elsewhere"
else
  start_nats
fi
