#!/usr/bin/env bash
# `npm test`: install dependencies, make sure Postgres and NATS are up, run every
# vitest test. The last line is always "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh

bash scripts/install-deps.sh
bash scripts/services.sh

# The server and worker processes the tests spawn run compiled JavaScript (dist/): vitest's
# global setup (server/test/global-setup.ts) compiles it, for this run and any other.
# The dashboard: its e2e tests load the built page (dashboard/dist) in headless
# Chromium, Debian's package (playwright-core drives it; it downloads no browser).
echo "dashboard: building (vite)"
npm run --silent build --workspace dashboard >/dev/null
if [[ ! -x "${CHIME_TEST_CHROMIUM:-/usr/bin/chromium}" ]]; then
  echo "deps: installing chromium (Debian package) for the dashboard tests"
  as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The metrics test checks /metrics with promtool (Debian's package, unpacked: scripts/promtool.sh).
CHIME_TEST_PROMTOOL="$(bash scripts/promtool.sh)"
export CHIME_TEST_PROMTOOL

# The tests reach Postgres through its maintenance database "postgres" (they create
# one database per test file), so derive that from DATABASE_URL when it is set.
if [[ -n "${DATABASE_URL:-}" && -z "${CHIME_TEST_POSTGRES_URL:-}" ]]; then
  CHIME_TEST_POSTGRES_URL="$(node -e 'const u = new URL(process.argv[1]); u.pathname = "/postgres"; console.log(u.href)' "$DATABASE_URL")"
  export CHIME_TEST_POSTGRES_URL
fi

report=test-output/vitest.json
mkdir -p test-output
rm -f "$report"
status=0
# default: the usual console output; json: the counts for the summary line.
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?

if [[ -f "$report" ]]; then
  summary="$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    // A file that fails to load has no failed tests but is a failure all the same.
    const broken = r.testResults.filter((f) => f.status === "failed" && f.assertionResults.every((t) => t.status !== "failed"));
    for (const f of broken) console.log(`failed to run: ${f.name}: ${(f.message || "").split("\n")[0]}`);
    console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests + broken.length} failed`);
  ' "$report")"
else
  summary="tests: 0 passed, 1 failed"
  echo "vitest wrote no report (exit code $status): it did not get to run the tests"
  [[ $status -ne 0 ]] || status=1
fi
echo "$summary"
exit "$status"
