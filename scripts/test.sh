#!/usr/bin/env bash
# The one command that runs every check and test. `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "formatting"
cargo fmt --all --check

step "clippy (-D warnings)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "the core builds for the edge targets"
cargo build --quiet -p latticelm-core --target wasm32-unknown-unknown
cargo build --quiet -p latticelm-core --target wasm32-wasip2

step "the core depends on no I/O runtime or host SDK"
bad=$(cargo tree -p latticelm-core -e normal --prefix none --target all | grep -E '^(tokio|hyper|reqwest|mio|axum|worker|spin-sdk|wasm-bindgen) ' || true)
if [ -n "$bad" ]; then
  echo "crates/core must not depend on: $bad" >&2
  exit 1
fi

step "tests (unit, golden, property, end-to-end, openai SDK)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
