#!/usr/bin/env bash
# A `chime` CLI session as a script: create a job, trigger it, read its runs, clean up.
# Run: bash examples/cli-session.sh (CHIME_SERVER, default http://localhost:8080; CHIME
# is the command, default `chime`, e.g. CHIME="node cli/dist/main.js" from a checkout).
set -euo pipefail
chime() { ${CHIME:-chime} "$@"; }

# JSON output is stable for scripts; jq-free here, node reads the id.
id=$(chime job create --name "cli-session-$$" --queue reports --cron '0 0 6 * * 1-5' --tz Europe/Berlin -o json |
  node -e 'process.stdin.on("data", (d) => console.log(JSON.parse(d).id))')
echo "created $id"

chime job get "$id"                   # field: value lines
chime job trigger "$id" > /dev/null   # a manual run, queued for a worker of "reports"
chime run list --job "$id"            # a table: ID JOB STATE ATTEMPT ...
chime preview '0 0 6 * * 1-5' --tz Europe/Berlin -n 3 --after 2026-03-27T00:00:00Z

# Exit codes by class: 4 is "not found".
chime job delete "$id"
if chime job get "$id" 2> /dev/null; then echo "still there?"; exit 1; else echo "get after delete: exit $?"; fi
