#!/usr/bin/env bash
# The Worker's CPU per request under workerd, and its cold start.
#
#   bench/worker.sh        # → bench-results/worker.md (and stdout)
#
# Runs the built Worker under `wrangler dev` (local workerd) on 127.0.0.1
# in front of the mock provider, sends N requests one after another for
# each upstream protocol (Responses, Chat Completions, Anthropic Messages,
# Gemini), non-streamed and streamed, and divides the CPU time the
# workerd processes spent (user + system, from /proc) by N. The wait on
# the mock is not CPU, so what is left is the Worker's own work plus
# workerd's HTTP handling of both connections.
#
# Cold start: the first request to a fresh workerd instantiates the wasm
# module; its latency less the median of the warm ones that follow is the
# instantiation (and first-run) cost. Measured COLD times, each on a new
# wrangler dev.
#
# Variables: N (200), COLD (3), STORE (unset: the default, `true`). Needs the Workers tooling
# (scripts/setup-worker.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
N=${N:-200}
COLD=${COLD:-3}
# STORE=false sends `"store": false`: no conversation write (a Durable
# Object call) per request.
STORE=${STORE:-}
STORE_FIELD=${STORE:+,\"store\":$STORE}
FIXTURES=${FIXTURES:-../shared/fixtures}
[ -x node_modules/.bin/wrangler ] || { echo "bench/worker.sh: run scripts/setup-worker.sh first" >&2; exit 1; }
cargo build --release --quiet -p latticelm-mock
bin=${CARGO_TARGET_DIR:-target}/release

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$bin/latticelm-mock" --port 0 --fixtures "$FIXTURES" >"$work/mock.log" 2>&1 & pids+=($!)
MOCK=$(wait_line "$work/mock.log")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config="server: { log_level: off }
providers:
  oa: { type: openai, endpoint: \"$MOCK\", api_key: sk-oa }
  chat: { type: openai-chat, endpoint: \"$MOCK/v1\", api_key: sk-chat }
  claude: { type: anthropic, endpoint: \"$MOCK\", api_key: sk-ant }
  gemini: { type: google, endpoint: \"$MOCK\", api_key: g-key }
models:
  - { name: responses, provider: oa, provider_model_id: gpt-4o-mini }
  - { name: chat, provider: chat, provider_model_id: \"llama3.2:3b\" }
  - { name: anthropic, provider: claude, provider_model_id: claude-haiku-4-5 }
  - { name: gemini, provider: gemini, provider_model_id: gemini-2.5-flash }"

# Starts wrangler dev (its own process group); sets WPID and URL.
start() {
  local port; port=$(free_port)
  mkdir -p "$work/persist"
  setsid env CI=true WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false NO_COLOR=1 \
    npx wrangler dev --ip 127.0.0.1 --port "$port" --show-interactive-dev-session=false \
    --persist-to "$work/persist" --var "LATTICELM_CONFIG:$config" </dev/null >"$work/wrangler.log" 2>&1 &
  WPID=$!; pids+=("$WPID")
  URL="http://127.0.0.1:$port"
  for _ in $(seq 1200); do
    curl -sf "$URL/health" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  echo "wrangler dev did not become ready" >&2; cat "$work/wrangler.log" >&2; exit 1
}
stop() { kill -- "-$WPID" 2>/dev/null || true; sleep 1; }
# CPU ticks of every workerd process under wrangler (user + system).
ticks() {
  local t=0 p
  for p in $(pgrep -f workerd); do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
post() { # body → writes time_total (s)
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H 'content-type: application/json' -d "$1" "$URL/v1/responses"
}

# --- cold starts -------------------------------------------------------------
cold=()
warm_body='{"model":"chat","input":"hello"}'
for _ in $(seq "$COLD"); do
  start
  read -r code first < <(post "$warm_body")
  [ "$code" = 200 ] || { echo "cold request answered $code" >&2; exit 1; }
  rest=()
  for _ in $(seq 20); do read -r _ t < <(post "$warm_body"); rest+=("$t"); done
  cold+=("$(python3 -c "import statistics,sys; f=float(sys.argv[1]); r=[float(x) for x in sys.argv[2:]]; print(f'{(f-statistics.median(r))*1000:.1f}')" "$first" "${rest[@]}")")
  stop
done

# --- CPU per request -----------------------------------------------------------
start
rows=()
# The floor: `GET /health` (the Worker answers without parsing, routing
# or calling upstream) is what workerd and wrangler's local entry worker
# cost per request around the Worker's own work.
for _ in $(seq 20); do curl -s -o /dev/null "$URL/health"; done
t0=$(ticks)
for _ in $(seq "$N"); do curl -s -o /dev/null "$URL/health"; done
t1=$(ticks)
floor=$(python3 -c "import sys; print(f'{(int(sys.argv[1]) / int(sys.argv[2])) * 1e3 / int(sys.argv[3]):.2f}')" "$((t1 - t0))" "$(getconf CLK_TCK)" "$N")
for model in responses chat anthropic gemini; do
  for stream in false true; do
    body="{\"model\":\"$model\",\"input\":\"hello benchmark\",\"stream\":$stream$STORE_FIELD}"
    for _ in $(seq 20); do post "$body" >/dev/null; done
    t0=$(ticks)
    for _ in $(seq "$N"); do
      read -r code _ < <(post "$body")
      [ "$code" = 200 ] || { echo "$model stream=$stream answered $code" >&2; exit 1; }
    done
    t1=$(ticks)
    us=$(python3 -c "import sys; print(f'{(int(sys.argv[1]) / int(sys.argv[2])) * 1e3 / int(sys.argv[3]):.2f}')" "$((t1 - t0))" "$(getconf CLK_TCK)" "$N")
    net=$(python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.2f}')" "$us" "$floor")
    rows+=("| $model | $([ "$stream" = true ] && echo streamed || echo non-streamed) | $us ms | $net ms |")
  done
done
stop

wasm=$(ls crates/worker/build/*.wasm 2>/dev/null | head -1 || true)
mkdir -p bench-results
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M') UTC on $(nproc) cores; latticelm $(git rev-parse --short HEAD); wrangler $(npx wrangler --version 2>/dev/null | tail -1), local workerd."
  echo
  echo "Worker CPU per Open Responses request (workerd's user + system time ÷ $N sequential requests, in front of the mock provider; store: ${STORE:-true, the default}):"
  echo
  echo "| upstream protocol | | CPU per request | less the floor |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "The floor, \`GET /health\` the same way: $floor ms per request (workerd's HTTP handling and wrangler's local entry worker, which a deployed Worker does not run)."
  echo
  echo "Cold start (first request on a fresh workerd less the median of the next 20), $COLD runs: $(IFS=', '; echo "${cold[*]}") ms."
  if [ -n "$wasm" ]; then
    echo
    echo "wasm: $(stat -c%s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip ($(( $(gzip -9c "$wasm" | wc -c) / 1024 )) KiB)."
  fi
} | tee bench-results/worker.md
