#!/usr/bin/env bash
# Runs the benchmark against a clean checkout of a commit (default HEAD) instead of the
# working tree, so edits in progress in this checkout cannot change what is measured.
# The checkout shares this repository's installed node_modules, except the workspace
# packages (@chime/*), which point into the checkout. Results are copied back into
# bench/results/ here.
#
#   bash bench/run-at-commit.sh [commit] -- [npm run bench arguments, e.g. --quick]
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
source "$here/scripts/node-env.sh"
commit=HEAD
if [[ $# -gt 0 && "$1" != "--" ]]; then commit="$1"; shift; fi
[[ $# -gt 0 && "$1" == "--" ]] && shift
sha="$(git -C "$here" rev-parse --short "$commit")"
dir="$(mktemp -d /tmp/chime-bench-XXXXXX)"
cleanup() { git -C "$here" worktree remove --force "$dir" >/dev/null 2>&1 || rm -rf "$dir"; }
trap cleanup EXIT
git -C "$here" worktree add --detach "$dir" "$commit" >/dev/null
mkdir -p "$dir/node_modules/@chime"
for entry in "$here"/node_modules/* "$here"/node_modules/.bin; do
  name="$(basename "$entry")"
  [[ "$name" == "@chime" ]] || ln -s "$entry" "$dir/node_modules/$name"
done
# Packages npm could not hoist (another version of one at the root) sit in a workspace's own node_modules.
for modules in "$here"/*/node_modules; do
  workspace="$(basename "$(dirname "$modules")")"
  if [[ -d "$dir/$workspace" && ! -e "$dir/$workspace/node_modules" ]]; then ln -s "$modules" "$dir/$workspace/node_modules"; fi
done
for entry in "$here"/node_modules/@chime/*; do
  name="$(basename "$entry")"
  ln -s "$dir/$(basename "$(readlink -f "$entry")")" "$dir/node_modules/@chime/$name"
done
echo "benchmarking commit $sha in $dir" >&2
# The server and the SDK run compiled: build them in the checkout first (commits from
# before the compiled build have no scripts/build-node.sh and run the server under tsx).
(cd "$dir" && { [[ ! -f scripts/build-node.sh ]] || bash scripts/build-node.sh; } && node --import tsx bench/src/main.ts --out="$dir/bench/results-run" "$@")
mkdir -p "$here/bench/results"
cp "$dir"/bench/results-run/*.md "$dir"/bench/results-run/*.jsonl "$here/bench/results/"
[[ -d "$dir/bench/results-run/prof" ]] && cp -r "$dir/bench/results-run/prof" "$here/bench/results/"
ls -1 "$dir"/bench/results-run/*.md | sed "s|.*/|results: bench/results/|" >&2
