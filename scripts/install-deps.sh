#!/usr/bin/env bash
# Installs node_modules when they are missing or older than package-lock.json, so
# `npm test` and `npm run demo` work straight after `git clone`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -f package-lock.json ]]; then
  # npm writes node_modules/.package-lock.json on every install; a lockfile newer
  # than it means someone changed dependencies since (e.g. after a git pull).
  if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "deps: installing with npm ci"
    npm ci --no-audit --no-fund
  else
    echo "deps: node_modules up to date"
  fi
elif [[ ! -d node_modules ]]; then
  echo "deps: no package-lock.json; installing with npm install"
  npm install --no-audit --no-fund
fi
