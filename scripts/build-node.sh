#!/usr/bin/env bash
# Compiles the SDK, the server, the examples and the test worker to dist/ (`npm run
# build:node`: tsc -b, which rebuilds only what changed), for the runs that check the code:
# the tests, the demo and the benchmark. tsc writes the JavaScript even when it reports
# type errors; this prints them and goes on, leaving `npm run typecheck` (and `npm run
# build`, `npm start`) to fail on them, so a contract change can be tested before every
# implementation of it type-checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh

npm run --silent build:node ||
  echo "build: tsc reported errors (above); going on with the JavaScript it emitted (npm run typecheck fails on them)" >&2
