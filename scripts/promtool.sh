#!/usr/bin/env bash
# Prints the path of a promtool (Prometheus' metrics checker) for the metrics test, fetching
# it once when the machine has none: Debian's `prometheus` package is downloaded (not
# installed: that would start a Prometheus service) and only its promtool unpacked into
# .chime/promtool/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if command -v promtool >/dev/null 2>&1; then command -v promtool; exit 0; fi
target="$root/.chime/promtool/usr/bin/promtool"
if [[ ! -x "$target" ]]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
  # apt-get download needs the package lists; a fresh machine may have none yet.
  (cd "$work" && apt-get download -qq prometheus 2>/dev/null) || { as_root apt-get update -qq && (cd "$work" && apt-get download -qq prometheus 2>/dev/null); }
  dpkg-deb -x "$work"/prometheus_*.deb "$work/x"
  mkdir -p "$(dirname "$target")"
  cp "$work/x/usr/bin/promtool" "$target"
fi
echo "$target"
