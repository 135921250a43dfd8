#!/usr/bin/env bash
# Builds the Spin component (wasm32-wasip2) for size: opt-level "s", LTO,
# one codegen unit, stripped. `spin build` runs this (spin.toml), and so
# does scripts/test.sh. Prints the path of the component.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
CARGO_PROFILE_RELEASE_OPT_LEVEL=s CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
  CARGO_PROFILE_RELEASE_STRIP=true cargo build --quiet -p latticelm-spin --target wasm32-wasip2 --release
echo "${CARGO_TARGET_DIR:-target}/wasm32-wasip2/release/latticelm_spin.wasm"
