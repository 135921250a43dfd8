#!/usr/bin/env bash
# Runs each cargo fuzz target (fuzz/) for FUZZ_SECONDS (default 60) from the
# committed seed corpora, and fails on any crash, panic or timeout. Prints
# the executions run. cargo fuzz needs nightly flags; RUSTC_BOOTSTRAP lets
# the one stable toolchain here accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-$HOME/.cache/latticelm/fuzz-target}
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --version 0.13.2
fi
cargo fuzz build -O >/dev/null
total=0
for t in sse_decoder request stream_translators config jwt ws_frame; do
  work=$(mktemp -d)
  cp fuzz/corpus/"$t"/* "$work"/
  log=$(mktemp)
  if ! cargo fuzz run -O "$t" "$work" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t found a crash or a timeout (the input is in fuzz/artifacts/$t)" >&2
    exit 1
  fi
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | awk '{print $2}')
  echo "fuzz: $t: $runs executions in ${secs} s, no finding"
  total=$((total + runs))
  rm -rf "$work" "$log"
done
echo "fuzz: $total executions in all, no finding"
