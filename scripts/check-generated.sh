#!/usr/bin/env bash
# `npm run check:generated`: fails when the committed sdk/src/gen or docs/api.md is not
# what `npm run generate` makes from proto/ now. It generates into a temporary folder and
# compares with the committed files (git HEAD), so the working tree is not touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The output folder prefixes the out: paths of buf.gen.yaml: $tmp/fresh/sdk/src/gen, $tmp/fresh/docs/api.md.
bash scripts/generate.sh "$tmp/fresh" >/dev/null
mkdir -p "$tmp/committed/docs"
git archive HEAD sdk/src/gen server/src/gen | tar -x -C "$tmp/committed"
# Missing from HEAD: compared as an empty file, so it shows as stale.
git show HEAD:docs/api.md >"$tmp/committed/docs/api.md" 2>/dev/null || : >"$tmp/committed/docs/api.md"

stale=0
for path in sdk/src/gen server/src/gen docs/api.md; do
  # diff -r also reports files only on one side (added or removed messages/files).
  if ! diff -r -u "$tmp/committed/$path" "$tmp/fresh/$path" >"$tmp/diff"; then
    stale=1
    head -n 60 "$tmp/diff" | sed "s|$tmp/||g"
    if diff -r -q "$path" "$tmp/fresh/$path" >/dev/null; then
      # Regenerated locally but not committed yet: CI sees only what is committed.
      echo "generated $path is stale: the working tree's is fresh but not committed; commit it" >&2
    else
      echo "generated $path is stale: run npm run generate" >&2
    fi
  fi
done
[[ $stale == 0 ]] || exit 1
echo "generated code and docs/api.md are up to date"
