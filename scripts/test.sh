#!/usr/bin/env bash
# The one command that runs every check and test. `.ci/run` calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's duration goes to $LATTICELM_TIMINGS (".ci/run" prints them
# all at the end) or, run alone, is printed at the end of this script.
timings=${LATTICELM_TIMINGS:-$(mktemp)}
own_timings=${LATTICELM_TIMINGS:-}
step_name=""
step_start=$SECONDS
close_step() {
  if [ -n "$step_name" ]; then
    printf '%6ds  %s\n' $((SECONDS - step_start)) "$step_name" >>"$timings"
  fi
}
step() {
  close_step
  step_name="$*"
  step_start=$SECONDS
  printf '\n==> %s\n' "$*"
}
report() {
  close_step
  step_name=""
  if [ -z "$own_timings" ]; then
    printf '\nstep durations:\n'
    cat "$timings"
    # The closing line again, last.
    cat "$timings.summary" 2>/dev/null || true
    rm -f "$timings" "$timings.summary"
  fi
}

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

# The Cloudflare Worker: build, size gate and wasm tests, when the tooling
# is installed (scripts/setup-worker.sh; CI always has it).
export CI_WORKER_ENV="CI=true WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false"
if [ -x node_modules/.bin/wrangler ] && command -v worker-build >/dev/null; then
  step "Worker: release build with wasm-opt, and wrangler deploy --dry-run"
  rm -rf dist
  env $CI_WORKER_ENV npx wrangler deploy --dry-run --outdir dist 2>&1 | grep -E "Total Upload|error|Error" | tee /tmp/latticelm-upload.txt
  ./scripts/worker-size.sh /tmp/latticelm-upload.txt

  step "Worker: wasm-bindgen tests under Node"
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p latticelm-worker --target wasm32-unknown-unknown --test wasm
elif [ "${CI:-}" = "true" ]; then
  echo "the Workers tooling is missing: run scripts/setup-worker.sh" >&2
  exit 1
else
  step "Worker: skipped (run scripts/setup-worker.sh to include it)"
fi

step "clippy on the edge targets (-D warnings)"
cargo clippy --quiet -p latticelm-worker --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet -p latticelm-spin --target wasm32-wasip2 -- -D warnings

step "Spin: the component (wasm32-wasip2, release) and the wasmtime test harness"
component=$(./scripts/build-spin.sh)
cargo build --quiet -p spin-harness
echo "component: $(stat -c%s "$component") bytes raw, $(gzip -9c "$component" | wc -c) bytes gzip"

step "fuzzing (cargo fuzz: each target from its seeds; 50 s each in CI, 10 s otherwise)"
if [ "${CI:-}" = "true" ]; then fuzz_secs=${FUZZ_SECONDS:-50}; else fuzz_secs=${FUZZ_SECONDS:-10}; fi
FUZZ_SECONDS=$fuzz_secs ./scripts/fuzz.sh

step "tests (unit, golden, property, end-to-end, openai SDK, Workers under workerd, Spin under wasmtime)"
log=$(mktemp)
export LATTICELM_SKIPPED=$(mktemp)
trap 'rm -f "$log" "$LATTICELM_SKIPPED"; report' EXIT
set +e
cargo test --workspace --lib --bins --tests 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "\ntests: %d passed, %d failed\n", p, f }' "$log" | tee "$timings.summary"
# Suites that found a tool missing (never in CI, where a missing tool
# fails the test): each once, and the one command that installs them all.
if [ -s "$LATTICELM_SKIPPED" ]; then
  {
    printf '\nsuites skipped for missing tools:\n'
    sort -u "$LATTICELM_SKIPPED" | sed 's/^/  - /'
    printf 'install them all, then run every suite: bash .ci/run\n'
  } | tee -a "$timings.summary"
fi
exit "$status"
