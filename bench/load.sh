#!/usr/bin/env bash
# Load benchmark: the gateway's added latency over direct calls to the same
# mock provider, measured in the same run, at a fixed request rate.
#
#   bench/load.sh                      # RATE=200 req/s, DURATION=10s, N=300 TTFB samples
#
# Needs `oha` (cargo install oha --locked) and curl. Writes
# bench-results/load.md and prints it.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RATE=${RATE:-200}
DURATION=${DURATION:-10s}
N=${N:-300}
FIXTURES=${FIXTURES:-../shared/fixtures}
command -v oha >/dev/null || cargo install oha --locked
cargo build --release --quiet -p latticelm -p latticelm-mock
bin=${CARGO_TARGET_DIR:-target}/release

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT


"$bin/latticelm-mock" --port 0 --fixtures "$FIXTURES" >"$work/mock.log" 2>&1 & pids+=($!)
MOCK=$(wait_line "$work/mock.log")
cat >"$work/config.yaml" <<YAML
server: { address: "127.0.0.1:0", log_level: off }
providers:
  chat: { type: openai-chat, endpoint: "$MOCK" }
  oa: { type: openai, endpoint: "$MOCK" }
models:
  - { name: chat-model, provider: chat, provider_model_id: bench }
  - { name: responses-model, provider: oa, provider_model_id: bench }
  - name: two-targets
    strategy: weighted
    targets:
      - { provider: chat, provider_model_id: bench, weight: 1 }
      - { provider: chat, provider_model_id: bench-b, weight: 1 }
YAML
"$bin/latticelm" serve --config "$work/config.yaml" --threads 1 >"$work/gw.log" 2>&1 & pids+=($!)
GW_PID=$!
GW=$(wait_line "$work/gw.log")

# The same gateway with observability on: a JSON log line per request,
# metrics, and every request traced (sample_ratio 1.0) to an OTLP
# receiver (tests/otlp/receiver.py; skipped without opentelemetry-proto).
OBS=""
if python3 -c "import opentelemetry.proto" 2>/dev/null; then
  python3 tests/otlp/receiver.py "$work/spans.jsonl" >"$work/otlp.port" & pids+=($!)
  for _ in $(seq 100); do [ -s "$work/otlp.port" ] && break; sleep 0.05; done
  sed -e 's/log_level: off/log_level: info, log_format: json/' "$work/config.yaml" >"$work/config-obs.yaml"
  printf 'observability:\n  otlp: { endpoint: "http://127.0.0.1:%s", sample_ratio: 1.0 }\n' "$(cat "$work/otlp.port")" >>"$work/config-obs.yaml"
  "$bin/latticelm" serve --config "$work/config-obs.yaml" --threads 1 >"$work/gw-obs.log" 2>&1 & pids+=($!)
  OBS=$(wait_line "$work/gw-obs.log")
fi

direct_chat='{"model":"bench","messages":[{"role":"user","content":"hello benchmark"}]}'
direct_chat_stream='{"model":"bench","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello benchmark"}]}'
gw_chat='{"model":"chat-model","input":"hello benchmark"}'
gw_chat_stream='{"model":"chat-model","input":"hello benchmark","stream":true}'
gw_two='{"model":"two-targets","input":"hello benchmark"}'
direct_resp='{"model":"bench","input":"hello benchmark"}'
gw_resp='{"model":"responses-model","input":"hello benchmark"}'

# oha at a fixed rate → "p50 p99" in milliseconds.
load() {
  oha -z "$DURATION" -q "$RATE" -m POST -H 'content-type: application/json' -d "$2" --no-tui --output-format json "$1" >"$work/oha.json"
  python3 - "$work/oha.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["latencyPercentiles"]
ok = d["summary"]["successRate"]
assert ok == 1.0, f"success rate {ok}"
print(f'{p["p50"]*1000:.3f} {p["p99"]*1000:.3f}')
PY
}


# Warm up connections and caches.
oha -n 200 -m POST -H 'content-type: application/json' -d "$gw_chat" --no-tui "$GW/v1/responses" >/dev/null

read -r d50 d99 < <(load "$MOCK/v1/chat/completions" "$direct_chat")
read -r g50 g99 < <(load "$GW/v1/responses" "$gw_chat")
read -r g2_50 g2_99 < <(load "$GW/v1/responses" "$gw_two")
read -r dr50 dr99 < <(load "$MOCK/v1/responses" "$direct_resp")
read -r gr50 gr99 < <(load "$GW/v1/responses" "$gw_resp")
read -r ds50 ds99 < <(load "$MOCK/v1/chat/completions" "$direct_chat_stream")
read -r gs50 gs99 < <(load "$GW/v1/responses" "$gw_chat_stream")
if [ -n "$OBS" ]; then
  oha -n 200 -m POST -H 'content-type: application/json' -d "$gw_chat" --no-tui "$OBS/v1/responses" >/dev/null
  read -r o50 o99 < <(load "$OBS/v1/responses" "$gw_chat")
  read -r os50 os99 < <(load "$OBS/v1/responses" "$gw_chat_stream")
  # Read back from the same gateway without observability, right after.
  read -r g50b g99b < <(load "$GW/v1/responses" "$gw_chat")
  read -r gs50b gs99b < <(load "$GW/v1/responses" "$gw_chat_stream")
fi
read -r dt50 dt99 < <(ttfb "$MOCK/v1/chat/completions" "$direct_chat_stream")
read -r gt50 gt99 < <(ttfb "$GW/v1/responses" "$gw_chat_stream")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$GW_PID/status")

row() { # name direct50 direct99 gw50 gw99
  python3 -c "
import sys
n, d50, d99, g50, g99 = sys.argv[1], *map(float, sys.argv[2:])
print(f'| {n} | {d50:.2f} / {d99:.2f} | {g50:.2f} / {g99:.2f} | +{g50-d50:.2f} / +{g99-d99:.2f} | {g50/d50:.2f}x / {g99/d99:.2f}x |')" "$@"
}

mkdir -p bench-results
{
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), gateway with 1 worker thread, mock and load tool on the same machine."
  echo "Latency in ms, p50 / p99, at $RATE req/s for $DURATION (oha); TTFB over $N sequential streams (curl)."
  echo
  echo "| scenario | direct to mock | through latticelm | added | ratio |"
  echo "|---|---|---|---|---|"
  row "Chat Completions, non-streaming" "$d50" "$d99" "$g50" "$g99"
  row "Chat Completions, non-streaming, two-target weighted model" "$d50" "$d99" "$g2_50" "$g2_99"
  row "OpenAI Responses, non-streaming" "$dr50" "$dr99" "$gr50" "$gr99"
  row "Chat Completions, streaming (whole stream)" "$ds50" "$ds99" "$gs50" "$gs99"
  row "Chat Completions, streaming (TTFB)" "$dt50" "$dt99" "$gt50" "$gt99"
  echo
  echo "Gateway peak RSS: $((rss_kb / 1024)) MiB ($rss_kb kB VmHWM)."
  if [ -n "$OBS" ]; then
    spans=$(wc -l <"$work/spans.jsonl")
    lines=$(grep -c '"msg":"request"' "$work/gw-obs.log" || true)
    echo
    echo "Observability: the gateway with logs off against the same gateway with a JSON log line per request, metrics and every request traced to an OTLP receiver (sample ratio 1.0), measured one after the other in this run ($lines log lines, $spans spans received)."
    echo
    echo "| scenario | observability off | observability on | added | ratio |"
    echo "|---|---|---|---|---|"
    row "Chat Completions, non-streaming" "$g50b" "$g99b" "$o50" "$o99"
    row "Chat Completions, streaming (whole stream)" "$gs50b" "$gs99b" "$os50" "$os99"
  fi
} | tee bench-results/load.md
