#!/usr/bin/env bash
# `npm run check:generated`: fails when the committed sdk/src/gen is not what
# `buf generate` makes from proto/ now. It generates into a temporary folder and
# compares with the committed files (git HEAD), so the working tree is not touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --output prefixes the out: paths of buf.gen.yaml, giving $tmp/fresh/sdk/src/gen.
npx buf generate --output "$tmp/fresh"
mkdir -p "$tmp/committed"
git archive HEAD sdk/src/gen | tar -x -C "$tmp/committed"

# diff -r also reports files only on one side (added or removed messages/files).
if ! diff -r -u "$tmp/committed/sdk/src/gen" "$tmp/fresh/sdk/src/gen" >"$tmp/diff"; then
  head -n 60 "$tmp/diff" | sed "s|$tmp/||g"
  if diff -r -q sdk/src/gen "$tmp/fresh/sdk/src/gen" >/dev/null; then
    # Regenerated locally but not committed yet: CI sees only what is committed.
    echo "generated code is stale: sdk/src/gen in the working tree is fresh but not committed; commit it" >&2
  else
    echo "generated code is stale: run npm run generate" >&2
  fi
  exit 1
fi
echo "generated code is up to date"
