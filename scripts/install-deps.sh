#!/usr/bin/env bash
# Installs node_modules when they are missing or older than package-lock.json, so
# `npm test` and `npm run demo` work straight after `git clone`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh

if [[ -f package-lock.json ]]; then
  # npm writes node_modules/.package-lock.json on every install; a lockfile newer
  # than it means someone changed dependencies since (e.g. after a git pull).
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "deps: installing with npm ci"
    log="$(mktemp)"
    if ! npm ci --no-audit --no-fund >"$log" 2>&1; then
      # npm ci rejects a lock file that lacks optional packages the registry does not
      # serve (here: buf's binaries for other platforms; npm/cli#9846). npm install
      # installs the same locked versions; it must not change the lock file.
      if ! grep -q "from lock file" "$log"; then cat "$log" >&2; rm -f "$log"; exit 1; fi
      echo "deps: npm ci refused the lock file ($(grep -c 'from lock file' "$log") optional packages missing); installing the locked versions with npm install"
      npm install --no-audit --no-fund
      if ! git diff --quiet -- package-lock.json 2>/dev/null; then
        echo "deps: npm install changed package-lock.json: the lock file is out of date; commit the update" >&2
        [[ "${CI:-}" != true ]] || { rm -f "$log"; exit 1; }
      fi
    else
      grep -v '^npm warn' "$log" || true
    fi
    rm -f "$log"
  else
    echo "deps: node_modules up to date"
  fi
elif [[ ! -d node_modules ]]; then
  echo "deps: no package-lock.json; installing with npm install"
  npm install --no-audit --no-fund
fi
