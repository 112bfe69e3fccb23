#!/usr/bin/env bash
# `npm run demo`: install dependencies, make sure Postgres and NATS are up, start
# the compiled Chime server (server/dist) in the background (log: .chime/server.log),
# and run the compiled examples/demo.ts (examples/dist/demo.js) against it. The server
# is stopped when the demo ends (Ctrl-C).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh

GRPC_PORT="${CHIME_PORT:-8080}"
HTTP_PORT="${CHIME_HTTP_PORT:-8081}"
LOG=.chime/server.log

bash scripts/install-deps.sh
bash scripts/services.sh
echo "demo: building the SDK, the server, the demo and the dashboard"
bash scripts/build-node.sh
# The dashboard the server shows at http://localhost:$HTTP_PORT/
npm run --silent build --workspace dashboard >/dev/null

# Something else on our ports (another Chime?) would answer the health check in
# our server's place, and the demo would talk to it: refuse rather than guess.
for port in "$GRPC_PORT" "$HTTP_PORT"; do
  if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
    echo "demo: port $port is already in use; stop what runs there or pick other ports, e.g." >&2
    echo "      CHIME_PORT=9080 CHIME_HTTP_PORT=9081 npm run demo" >&2
    exit 1
  fi
done

mkdir -p .chime
# setsid: the server gets a process group of its own, so that a Ctrl-C reaches the
# demo, not the server, which stop_server stops in order.
setsid node server/dist/main.js >"$LOG" 2>&1 </dev/null &
SERVER_PID=$!

stop_server() {
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || return 0
  # The server finishes in-flight calls first (CHIME_SHUTDOWN_GRACE_MS); wait a bit longer.
  for _ in $(seq 1 60); do
    kill -0 -- "-$SERVER_PID" 2>/dev/null || { echo "demo: server stopped"; return 0; }
    sleep 0.25
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  echo "demo: server did not stop in time; killed it"
}
trap stop_server EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

healthy() { # /healthz answers 200 once Postgres and NATS are reachable from the server
  node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
    "http://127.0.0.1:$HTTP_PORT/healthz" 2>/dev/null
}

echo "demo: starting the server (gRPC :$GRPC_PORT, HTTP :$HTTP_PORT, log $LOG)"
for attempt in $(seq 1 120); do # up to ~30 s: the first start creates the database and migrates
  healthy && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    tail -n 20 "$LOG" >&2
    echo "demo: the server exited during start; see $LOG" >&2
    exit 1
  fi
  if [[ $attempt -eq 120 ]]; then
    tail -n 20 "$LOG" >&2
    echo "demo: /healthz did not answer OK within 30 s; see $LOG" >&2
    exit 1
  fi
  sleep 0.25
done
echo "demo: server is healthy (http://127.0.0.1:$HTTP_PORT/healthz); dashboard: http://localhost:$HTTP_PORT/"

CHIME_PORT="$GRPC_PORT" node examples/dist/demo.js
