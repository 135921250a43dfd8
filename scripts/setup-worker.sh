#!/usr/bin/env bash
# Installs the Workers tooling, once per machine (idempotent):
# - npm devDependencies: wrangler (workerd), Node 22 for wrangler, wasm-opt
#   (binaryen), esbuild, miniflare: from the committed lockfile;
# - wasm-bindgen-cli =0.2.130 (must equal the wasm-bindgen crate) and
#   worker-build 0.8.7, from crates.io: worker-build would otherwise try to
#   download them from GitHub, which is not reachable here.
# The two cargo installs take about 13 minutes on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

# `npm ci` fails (the lockfile lacks other platforms' workerd packages).
if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund --loglevel=error
fi
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen 0.2.130" ]; then
  cargo install wasm-bindgen-cli --version 0.2.130   # not --locked: a locked dependency is gone from crates.io
fi
if ! worker-build --version 2>/dev/null | grep -qx "\(worker-build \)\?0.8.7"; then
  cargo install worker-build --version 0.8.7 --locked
fi
rustup target add wasm32-unknown-unknown >/dev/null
