#!/usr/bin/env bash
# The Node.js that Chime's scripts run on. Source it (`source scripts/node-env.sh`) or
# run a command under it (`bash scripts/node-env.sh node server/dist/main.js`).
#
# When the machine's node is older than CHIME_NODE_MAJOR (or missing), it installs the
# npm registry's node-linux-<arch> package (a plain Node binary, with its headers) into
# .chime/node-<version>/ once, and puts its bin first on PATH. Everything started from
# there (npm, npx, vitest, tsc, eslint, the server) then runs on that node. npm itself is
# the machine's (npm 11 runs on Node 20 and on the new node alike).
#
#   CHIME_NODE_VERSION   the exact version bootstrapped (default below)
#   CHIME_SYSTEM_NODE=1  use the machine's node whatever its version (at your own risk)

CHIME_NODE_VERSION="${CHIME_NODE_VERSION:-26.12.1}"
CHIME_NODE_MAJOR="${CHIME_NODE_VERSION%%.*}"

chime_node_env() {
  local root have arch dir tmp
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  have="$(node -p 'process.versions.node' 2>/dev/null || true)"
  if [[ -n "$have" && ( "${have%%.*}" -ge "$CHIME_NODE_MAJOR" || "${CHIME_SYSTEM_NODE:-}" == 1 ) ]]; then
    return 0
  fi
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "node-env: no node-linux package for $(uname -m); install Node $CHIME_NODE_MAJOR yourself" >&2; return 1 ;;
  esac
  dir="$root/.chime/node-$CHIME_NODE_VERSION"
  if [[ ! -x "$dir/node_modules/.bin/node" ]]; then
    command -v npm >/dev/null || { echo "node-env: node ${have:-missing} is older than $CHIME_NODE_MAJOR and there is no npm to fetch a newer one" >&2; return 1; }
    echo "node-env: node ${have:-is missing} < $CHIME_NODE_MAJOR: installing node-linux-$arch@$CHIME_NODE_VERSION from the npm registry into .chime/" >&2
    mkdir -p "$root/.chime"
    # Into a temporary folder first, renamed when complete: a second script running at
    # the same time, or an interrupted install, never sees half a Node.
    tmp="$(mktemp -d "$root/.chime/node-install-XXXXXX")"
    # --prefix: npm would otherwise install into the nearest folder up with a package.json.
    if ! npm install --prefix "$tmp" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
      "node-linux-$arch@$CHIME_NODE_VERSION" >&2; then
      rm -rf "$tmp"
      echo "node-env: installing node-linux-$arch@$CHIME_NODE_VERSION failed" >&2
      return 1
    fi
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp" # lost a race: the other install is complete
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
  # node-gyp builds native addons against this node's headers, not the machine's.
  export npm_config_nodedir="$dir/node_modules/node-linux-$arch"
  hash -r
  have="$(node -p 'process.versions.node')" || return 1
  [[ "${have%%.*}" -ge "$CHIME_NODE_MAJOR" ]] || { echo "node-env: $dir holds node $have, not $CHIME_NODE_MAJOR" >&2; return 1; }
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  # Run as a command: set up, then run the arguments under it.
  set -euo pipefail
  chime_node_env
  [[ $# -eq 0 ]] || exec "$@"
else
  chime_node_env || return 1
fi
