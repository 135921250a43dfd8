#!/usr/bin/env bash
# Installs the Workers tooling, once per machine (idempotent):
# - npm packages, with `npm ci` from the committed lockfile: wrangler
#   (workerd), wasm-opt (binaryen), esbuild, miniflare, and Node 22 for
#   wrangler (an optional package per platform: Linux and macOS, x64 and
#   arm64; npm skips the others). npx and npm scripts put
#   node_modules/.bin, and so that node, first on PATH;
# - wasm-bindgen-cli =0.2.130 (must equal the wasm-bindgen crate) and
#   worker-build 0.8.7, from crates.io: worker-build would otherwise try to
#   download them from GitHub, which is not reachable here.
# The two cargo installs take about 13 minutes on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Skipped when node_modules was installed from this very lockfile (npm ci
# starts by removing node_modules, and with it the stamp).
stamp=node_modules/.setup-worker-lock.json
if [ ! -x node_modules/.bin/wrangler ] || [ ! -f node_modules/.package-lock.json ] \
    || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
if [ ! -x node_modules/.bin/node ] && ! node -e '
    const [major, minor] = process.versions.node.split(".").map(Number);
    process.exit(major > 22 || (major === 22 && minor >= 12) ? 0 : 1)' 2>/dev/null; then
  echo "setup-worker: no Node 22 package for $(uname -s) $(uname -m): wrangler needs Node >= 22.12 on PATH" >&2
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen 0.2.130" ]; then
  cargo install wasm-bindgen-cli --version 0.2.130   # not --locked: a locked dependency is gone from crates.io
fi
if ! worker-build --version 2>/dev/null | grep -qx "\(worker-build \)\?0.8.7"; then
  cargo install worker-build --version 0.8.7 --locked
fi
rustup target add wasm32-unknown-unknown >/dev/null
