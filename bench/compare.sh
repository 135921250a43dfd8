#!/usr/bin/env bash
# latticelm against a bare reverse proxy, on one canned upstream, in one run.
#
#   bench/compare.sh            # the whole comparison → bench-results/compare.md
#   bench/compare.sh --soak     # also a soak at RATE for SOAK (10m): RSS over time
#
# Everything listens on 127.0.0.1. The canned upstream is nginx answering a
# recorded-shape Chat Completions body (and a whole SSE stream) from memory;
# the bare proxy is nginx `proxy_pass` with upstream keep-alive, doing no
# work. latticelm serves the same upstream as an `openai-chat` provider,
# with its default observability (a log line per request is turned off, as
# on the proxy: `access_log off`). Load comes from oha at a fixed rate.
# Concurrent slow streams go through the mock provider's `slow:1000`
# model (one chunk a second), via nginx and via latticelm.
#
# Cache: the gateway's memory cache, every request a miss, then a hit.
#
# Limits: the same gateway with an API key, once without limits and once
# with a key and team limit and budget counted in a redis-server on
# loopback (Debian's), at RATE: the latency the limit stage adds.
#
# Variables: RATE (2000), DURATION (10s), N (300 TTFB samples), STREAMS
# (10000), SOAK (10m), THREADS (1: gateway threads = nginx proxy workers),
# PEER_RATE (200), WORKER (1: also the Worker's CPU under workerd with
# bench/worker.sh when its tooling is set up; WORKER_N, WORKER_COLD).
# Installs what is missing: nginx (Debian), oha (crates.io). Peer
# gateways are measured when installed (`--peers` installs them under
# ~/.cache/latticelm/peers): Portkey's gateway
# (`@portkey-ai/gateway`, npm) and LiteLLM's proxy (`litellm[proxy]`, PyPI,
# in a venv), on the same canned upstream at PEER_RATE, beside nginx and
# latticelm at that rate.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RATE=${RATE:-2000}
DURATION=${DURATION:-10s}
N=${N:-300}
STREAMS=${STREAMS:-10000}
SOAK=${SOAK:-10m}
THREADS=${THREADS:-1}
FIXTURES=${FIXTURES:-../shared/fixtures}
PEER_RATE=${PEER_RATE:-200}
PEERS=${PEERS:-$HOME/.cache/latticelm/peers}
soak=false
install_peers=false
for a in "$@"; do
  case "$a" in
    --soak) soak=true ;;
    --peers) install_peers=true ;;
  esac
done
if $install_peers; then
  mkdir -p "$PEERS"
  [ -f "$PEERS/node_modules/@portkey-ai/gateway/build/start-server.js" ] ||
    npm install --prefix "$PEERS" --no-audit --no-fund --loglevel=error @portkey-ai/gateway
  [ -x "$PEERS/litellm-venv/bin/litellm" ] || {
    python3 -m venv "$PEERS/litellm-venv"
    "$PEERS/litellm-venv/bin/pip" install --quiet --disable-pip-version-check 'litellm[proxy]'
  }
fi

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v oha >/dev/null || cargo install oha --locked
command -v redis-server >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
cargo build --release --quiet -p latticelm -p latticelm-mock
bin=${CARGO_TARGET_DIR:-target}/release
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  [ -f "$work/canned.pid" ] && kill "$(cat "$work/canned.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT


# --- the mock provider (slow streams) ---------------------------------------
"$bin/latticelm-mock" --port 0 --fixtures "$FIXTURES" >"$work/mock.log" 2>&1 & pids+=($!)
MOCK=$(wait_line "$work/mock.log")

# --- nginx: canned upstream, and the bare proxy in front of it and the mock --
CANNED_PORT=$(free_port); PROXY_PORT=$(free_port)
canned_answers "$work"
# Two nginx instances: the canned upstream in its own process, so that
# the proxy's CPU is its own workers' alone (as latticelm's is).
nginx_head() { # workers, pid file: what both configurations open with
  printf 'worker_processes %s;\npid %s;\nerror_log %s warn;\nworker_rlimit_nofile 65536;\nevents { worker_connections 32768; }\nhttp {\n  access_log off;\n  client_body_temp_path %s;\n  proxy_temp_path %s;\n  keepalive_requests 1000000;\n' \
    "$1" "$2" "$work/nginx-error.log" "$work/body" "$work/proxy"
}
{ nginx_head 1 "$work/canned.pid"; cat <<NGINX
  server {
    listen 127.0.0.1:$CANNED_PORT;
    location = /v1/chat/completions { default_type application/json; return 200 '$body'; }
    location = /stream/v1/chat/completions { default_type text/event-stream; return 200 "$stream_body"; }
  }
}
NGINX
} >"$work/canned.conf"
{ nginx_head "$THREADS" "$work/nginx.pid"; cat <<NGINX
  upstream canned { server 127.0.0.1:$CANNED_PORT; keepalive 256; }
  upstream mock { server ${MOCK#http://}; keepalive 256; }
  server {
    listen 127.0.0.1:$PROXY_PORT;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_buffering off;
    location /mock/ { proxy_pass http://mock/; proxy_read_timeout 120s; }
    location / { proxy_pass http://canned; }
  }
}
NGINX
} >"$work/nginx.conf"
"$NGINX" -c "$work/canned.conf" -p "$work" -g 'daemon off;' 2>>"$work/nginx-error.log" & pids+=($!)
"$NGINX" -c "$work/nginx.conf" -p "$work" -g 'daemon off;' 2>>"$work/nginx-error.log" & pids+=($!)
wait_port "$CANNED_PORT"; wait_port "$PROXY_PORT"
NGINX_PID=$(cat "$work/nginx.pid" 2>/dev/null || true)
CANNED="http://127.0.0.1:$CANNED_PORT"; PROXY="http://127.0.0.1:$PROXY_PORT"

# --- latticelm ----------------------------------------------------------------
cat >"$work/config.yaml" <<YAML
server:
  address: "127.0.0.1:0"
  log_level: off
  max_connections: 40000
providers:
  canned: { type: openai-chat, endpoint: "$CANNED" }
  canned-stream: { type: openai-chat, endpoint: "$CANNED/stream" }
  mock: { type: openai-chat, endpoint: "$MOCK" }
models:
  - { name: bench, provider: canned }
  - { name: bench-stream, provider: canned-stream, provider_model_id: bench }
  - { name: slow, provider: mock, provider_model_id: "slow:1000" }
YAML
"$bin/latticelm" serve --config "$work/config.yaml" --threads "$THREADS" >"$work/gw.log" 2>&1 & pids+=($!)
GW_PID=$!
GW=$(wait_line "$work/gw.log")

# --- limits off and on: the same key, without and with limits in Redis ------
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no >"$work/redis.log" 2>&1 & pids+=($!)
wait_port "$REDIS_PORT"
keyed() { # extra key fields, extra top-level YAML
  sed 's/^  address: .*/  address: "127.0.0.1:0"/' "$work/config.yaml"
  printf 'auth:\n  api_keys:\n    - { name: bench, key: sk-bench%s }\n%b' "$1" "$2"
}
keyed "" "" >"$work/off.yaml"
keyed ", team: t, limits: { requests_per_minute: 100000000, tokens_per_minute: 100000000000, concurrent: 100000 }, budget: { usd: 1000000000, period: monthly }" \
  "teams:\n  - { name: t, limits: { requests_per_minute: 100000000 }, budget: { usd: 1000000000, period: monthly } }\nlimits:\n  store: \"redis://127.0.0.1:$REDIS_PORT\"\n" >"$work/on.yaml"
"$bin/latticelm" serve --config "$work/off.yaml" --threads "$THREADS" >"$work/off.log" 2>&1 & pids+=($!)
OFF_PID=$!
"$bin/latticelm" serve --config "$work/on.yaml" --threads "$THREADS" >"$work/on.log" 2>&1 & pids+=($!)
ON_PID=$!
GW_OFF=$(wait_line "$work/off.log"); GW_ON=$(wait_line "$work/on.log")

chat='{"model":"bench","messages":[{"role":"user","content":"hello benchmark"}]}'
chat_stream='{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"hello benchmark"}]}'
direct_stream='{"model":"bench","stream":true,"messages":[{"role":"user","content":"hello benchmark"}]}'
resp='{"model":"bench","input":"hello benchmark"}'
resp_stream='{"model":"bench-stream","input":"hello benchmark","stream":true}'

# oha at a fixed rate → "p50 p99" in ms (every request must succeed).
HDR=()  # extra oha -H arguments (peer gateways' headers)
load() { # url body [rate] [duration]
  oha -z "${4:-$DURATION}" -q "${3:-$RATE}" -m POST -H 'content-type: application/json' "${HDR[@]}" -d "$2" \
    --no-tui --output-format json "$1" >"$work/oha.json"
  python3 - "$work/oha.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = d["latencyPercentiles"]
ok = d["summary"]["successRate"]
codes = d.get("statusCodeDistribution", {})
assert ok == 1.0 and set(codes) <= {"200"}, f"success rate {ok}, statuses {codes}"
print(f'{p["p50"]*1000:.3f} {p["p99"]*1000:.3f}')
PY
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
hwm_mb() { awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
nginx_workers() { pgrep -P "$NGINX_PID" | tr '\n' ' '; }

warm() { oha -n 2000 -c 16 -m POST -H 'content-type: application/json' -d "$2" --no-tui "$1" >/dev/null; }
warm "$CANNED/v1/chat/completions" "$chat"; warm "$PROXY/v1/chat/completions" "$chat"
warm "$GW/v1/chat/completions" "$chat"; warm "$GW/v1/responses" "$resp"
idle_rss=$(rss_mb "$GW_PID")

# CPU ticks around each run: the proxy's own workers (the canned
# upstream is another nginx), latticelm's own process.
nginx_cpu() { local t=0 p; for p in $(nginx_workers); do t=$((t + $(cpu_ticks "$p"))); done; echo "$t"; }
n0=$(nginx_cpu)
read -r d50 d99 < <(load "$CANNED/v1/chat/completions" "$chat")
n1=$(nginx_cpu)
read -r p50 p99 < <(load "$PROXY/v1/chat/completions" "$chat")
n2=$(nginx_cpu); g0=$(cpu_ticks "$GW_PID")
read -r g50 g99 < <(load "$GW/v1/chat/completions" "$chat")
g1=$(cpu_ticks "$GW_PID")
load_rss=$(rss_mb "$GW_PID")
read -r r50 r99 < <(load "$GW/v1/responses" "$resp")
g2=$(cpu_ticks "$GW_PID"); n3=$(nginx_cpu)
read -r ds50 ds99 < <(load "$CANNED/stream/v1/chat/completions" "$direct_stream")
n4=$(nginx_cpu)
read -r ps50 ps99 < <(load "$PROXY/stream/v1/chat/completions" "$direct_stream")
n5=$(nginx_cpu); g3=$(cpu_ticks "$GW_PID")
read -r gs50 gs99 < <(load "$GW/v1/chat/completions" "$chat_stream")
g4=$(cpu_ticks "$GW_PID")
read -r rs50 rs99 < <(load "$GW/v1/responses" "$resp_stream")
g5=$(cpu_ticks "$GW_PID")
HDR=(-H 'authorization: Bearer sk-bench')
warm_keyed() { oha -n 2000 -c 16 -m POST -H 'content-type: application/json' "${HDR[@]}" -d "$2" --no-tui "$1" >/dev/null; }
warm_keyed "$GW_OFF/v1/chat/completions" "$chat"; warm_keyed "$GW_ON/v1/chat/completions" "$chat"
off_cpu0=$(cpu_ticks "$OFF_PID")
read -r lo50 lo99 < <(load "$GW_OFF/v1/chat/completions" "$chat")
off_cpu1=$(cpu_ticks "$OFF_PID"); on_cpu0=$(cpu_ticks "$ON_PID")
read -r ln50 ln99 < <(load "$GW_ON/v1/chat/completions" "$chat")
on_cpu1=$(cpu_ticks "$ON_PID")
read -r lso50 lso99 < <(load "$GW_OFF/v1/chat/completions" "$chat_stream")
read -r lsn50 lsn99 < <(load "$GW_ON/v1/chat/completions" "$chat_stream")
# The response cache: every request a miss (no-cache: no lookup, but the
# write), then every request a hit, on the same canned upstream.
HDR=(-H 'x-latticelm-cache-ttl: 3600' -H 'cache-control: no-cache')
read -r cm50 cm99 < <(load "$GW/v1/responses" "$resp")
read -r csm50 csm99 < <(load "$GW/v1/responses" "$resp_stream")
HDR=(-H 'x-latticelm-cache-ttl: 3600')
read -r ch50 ch99 < <(load "$GW/v1/responses" "$resp")
read -r csh50 csh99 < <(load "$GW/v1/responses" "$resp_stream")
HDR=()
secs=$(python3 -c "import sys; s=sys.argv[1]; print(float(s[:-1]) * (60 if s.endswith('m') else 1))" "$DURATION")
cpu_us() { python3 -c "import sys; t, hz, rate, secs = map(float, sys.argv[1:]); print(f'{t / hz * 1e6 / (rate * secs):.0f}')" "$1" "$(getconf CLK_TCK)" "$RATE" "$secs"; }
off_us=$(cpu_us $((off_cpu1 - off_cpu0))); on_us=$(cpu_us $((on_cpu1 - on_cpu0)))
read -r dt50 dt99 < <(ttfb "$CANNED/stream/v1/chat/completions" "$direct_stream")
read -r pt50 pt99 < <(ttfb "$PROXY/stream/v1/chat/completions" "$direct_stream")
read -r gt50 gt99 < <(ttfb "$GW/v1/chat/completions" "$chat_stream")
load_hwm=$(hwm_mb "$GW_PID")

# The highest rate (of a ladder) at which p99 stays under 1 ms.
max_rate() { # url body
  local best=0
  for r in 1000 2000 3000 4000 5000 6000 8000 10000 12000; do
    read -r _ q99 < <(load "$1" "$2" "$r" 5s 2>/dev/null || echo "0 999")
    if python3 -c "import sys; sys.exit(0 if float('$q99') < 1.0 else 1)"; then best=$r; else break; fi
  done
  echo "$best"
}
proxy_max=$(max_rate "$PROXY/v1/chat/completions" "$chat")
gw_max=$(max_rate "$GW/v1/chat/completions" "$chat")

# Concurrent slow streams: STREAMS at once, ~20 s each (one chunk a second).
slow_user=$(python3 -c 'print("s" * 66)')
slow_direct="{\"model\":\"slow:1000\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$slow_user\"}]}"
slow_gw="{\"model\":\"slow\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$slow_user\"}]}"
streams() { # url body pid… → "ok mem_kb_per_stream cpu_ms_per_stream rss_after_mb"
  local url=$1 body=$2; shift 2
  local before_rss=0 before_cpu=0 p
  for p in "$@"; do before_rss=$((before_rss + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); before_cpu=$((before_cpu + $(cpu_ticks "$p"))); done
  oha -n "$STREAMS" -c "$STREAMS" -m POST -H 'content-type: application/json' -d "$body" \
    --no-tui --output-format json -t 120s "$url" >"$work/streams.json" &
  local oha_pid=$! peak=0 now
  while kill -0 "$oha_pid" 2>/dev/null; do
    now=0; for p in "$@"; do now=$((now + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done
    [ "$now" -gt "$peak" ] && peak=$now
    sleep 0.5
  done
  wait "$oha_pid" || true
  sleep 3
  local after_cpu=0 after_rss=0
  for p in "$@"; do after_cpu=$((after_cpu + $(cpu_ticks "$p"))); after_rss=$((after_rss + $(awk '/VmRSS/ {print $2}' "/proc/$p/status"))); done
  python3 - "$work/streams.json" "$STREAMS" "$before_rss" "$peak" "$before_cpu" "$after_cpu" "$after_rss" "$(getconf CLK_TCK)" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n, before, peak, c0, c1, after, hz = map(int, sys.argv[2:])
codes = d.get("statusCodeDistribution", {})
ok = int(codes.get("200", 0))
print(ok, round((peak - before) / n, 1), round((c1 - c0) * 1000 / hz / n, 3), round(after / 1024, 1), round(before / 1024, 1))
PY
}
read -r pn pmem pcpu pafter pbefore < <(streams "$PROXY/mock/v1/chat/completions" "$slow_direct" $(nginx_workers))
read -r gn gmem gcpu gafter gbefore < <(streams "$GW/v1/chat/completions" "$slow_gw" "$GW_PID")

# Peer gateways, when installed: each on 127.0.0.1 in front of the canned
# upstream, at PEER_RATE (they are not built for 2,000 req/s on a core).
peer_rows=()
peer_row() { # name url body [header…]
  local name=$1 url=$2 body=$3; shift 3
  HDR=(); for h in "$@"; do HDR+=(-H "$h"); done
  oha -n 200 -c 4 -m POST -H 'content-type: application/json' "${HDR[@]}" -d "$body" --no-tui "$url" >/dev/null 2>&1 || true
  local r
  if r=$(load "$url" "$body" "$PEER_RATE" 2>/dev/null); then
    read -r q50 q99 <<<"$r"
    peer_rows+=("| $name | $q50 / $q99 |")
  else
    peer_rows+=("| $name | failed (not every request succeeded) |")
  fi
  HDR=()
}
portkey_js="$PEERS/node_modules/@portkey-ai/gateway/build/start-server.js"
litellm_bin="$PEERS/litellm-venv/bin/litellm"
if [ -f "$portkey_js" ] || [ -x "$litellm_bin" ]; then
  peer_row "nginx bare proxy" "$PROXY/v1/chat/completions" "$chat"
  peer_row "latticelm" "$GW/v1/chat/completions" "$chat"
fi
if [ -f "$portkey_js" ]; then
  # Portkey listens on every interface unless told: bind it to loopback.
  printf '%s\n' "import http from 'node:http';" \
    "const listen = http.Server.prototype.listen;" \
    "http.Server.prototype.listen = function (port, ...rest) {" \
    "  if (typeof port === 'number') return listen.call(this, port, '127.0.0.1', ...rest.filter((a) => typeof a === 'function'));" \
    "  if (port && typeof port === 'object') port = { ...port, host: '127.0.0.1' };" \
    "  return listen.call(this, port, ...rest);" \
    "};" >"$work/loopback.mjs"
  PK_PORT=$(free_port)
  NODE_ENV=production node --import "$work/loopback.mjs" "$portkey_js" "--port=$PK_PORT" --headless >"$work/portkey.log" 2>&1 & pids+=($!)
  wait_port "$PK_PORT"
  peer_row "Portkey gateway $(node -p "require('$PEERS/node_modules/@portkey-ai/gateway/package.json').version")" \
    "http://127.0.0.1:$PK_PORT/v1/chat/completions" "$chat" \
    "x-portkey-provider: openai" "x-portkey-custom-host: $CANNED/v1" "authorization: Bearer sk-bench"
fi
if [ -x "$litellm_bin" ]; then
  LL_PORT=$(free_port)
  LL_KEY="sk-$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
  printf 'model_list:\n  - model_name: bench\n    litellm_params: { model: openai/bench, api_base: "%s/v1", api_key: sk-bench }\ngeneral_settings: { master_key: "%s" }\n' "$CANNED" "$LL_KEY" >"$work/litellm.yaml"
  # The bundled model price map: no fetch from GitHub at startup.
  LITELLM_LOCAL_MODEL_COST_MAP=True "$litellm_bin" --config "$work/litellm.yaml" --host 127.0.0.1 --port "$LL_PORT" --num_workers 1 >"$work/litellm.log" 2>&1 & pids+=($!)
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$LL_PORT/health/liveliness" >/dev/null 2>&1 && break; sleep 0.1; done
  peer_row "LiteLLM proxy $("$PEERS/litellm-venv/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))')" \
    "http://127.0.0.1:$LL_PORT/v1/chat/completions" "$chat" "authorization: Bearer $LL_KEY"
fi

ratio() { python3 -c "import sys; a, b = map(float, sys.argv[1:]); print(f'{a/b:.2f}x' if b else '-')" "$1" "$2"; }
row() { # name direct50 direct99 proxy50 proxy99 gw50 gw99
  python3 -c "
import sys
n, d50, d99, p50, p99, g50, g99 = sys.argv[1], *map(float, sys.argv[2:])
print(f'| {n} | {d50:.3f} / {d99:.3f} | {p50:.3f} / {p99:.3f} | {g50:.3f} / {g99:.3f} | **{g50/p50:.2f}x / {g99/p99:.2f}x** |')" "$@"
}

mkdir -p bench-results
{
  echo "Measured $(date -u '+%Y-%m-%d %H:%M') UTC on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)); latticelm $(git rev-parse --short HEAD), $THREADS worker thread(s); nginx $("$NGINX" -v 2>&1 | cut -d/ -f2), $THREADS worker process(es); load from oha on the same machine."
  echo
  echo "Latency in ms, p50 / p99, at $RATE req/s for $DURATION; TTFB over $N sequential streams (curl). The ratio is latticelm over nginx as a bare reverse proxy on the same canned upstream."
  echo
  echo "| scenario | direct to upstream | nginx bare proxy | latticelm | latticelm / proxy |"
  echo "|---|---|---|---|---|"
  row "Chat Completions, non-streaming" "$d50" "$d99" "$p50" "$p99" "$g50" "$g99"
  row "Responses → Chat upstream, non-streaming" "$d50" "$d99" "$p50" "$p99" "$r50" "$r99"
  row "Chat Completions, streaming (whole stream)" "$ds50" "$ds99" "$ps50" "$ps99" "$gs50" "$gs99"
  row "Responses → Chat upstream, streaming (whole stream)" "$ds50" "$ds99" "$ps50" "$ps99" "$rs50" "$rs99"
  row "Chat Completions, streaming (time to first byte)" "$dt50" "$dt99" "$pt50" "$pt99" "$gt50" "$gt99"
  echo
  echo "CPU per request in µs (process CPU time ÷ requests, at $RATE req/s for $DURATION): the proxy's own nginx workers (the canned upstream runs in another nginx) and latticelm's own process."
  echo
  echo "| | nginx bare proxy | latticelm | latticelm / nginx |"
  echo "|---|---|---|---|"
  python3 -c "
import sys
hz, rate, secs = map(float, sys.argv[1:4])
n0, n1, n2, n3, n4, n5, g0, g1, g2, g3, g4, g5 = map(int, sys.argv[4:16])
us = lambda t: t / hz * 1e6 / (rate * secs)
proxy, proxy_s = us(n2 - n1), us(n5 - n4)
for name, gw, px in [('Chat Completions, non-streaming', us(g1 - g0), proxy), ('Responses → Chat, non-streaming', us(g2 - g1), proxy), ('Chat Completions, streaming', us(g4 - g3), proxy_s), ('Responses → Chat, streaming', us(g5 - g4), proxy_s)]:
    print(f'| {name} | {px:.0f} | {gw:.0f} | **{gw / px:.2f}x** |' if px > 0 else f'| {name} | {px:.0f} | {gw:.0f} | – |')
" "$(getconf CLK_TCK)" "$RATE" "$secs" "$n0" "$n1" "$n2" "$n3" "$n4" "$n5" "$g0" "$g1" "$g2" "$g3" "$g4" "$g5"
  echo
  echo "Limits: Chat Completions at $RATE req/s for $DURATION through one key, without limits and with key and team limits and budgets counted in redis-server on loopback (one reservation and one settlement per request, one EVAL each)."
  echo
  echo "| | limits off | limits on | added |"
  echo "|---|---|---|---|"
  python3 -c "
import sys
o50, o99, n50, n99, so50, so99, sn50, sn99 = map(float, sys.argv[1:9])
ocpu, ncpu = sys.argv[9:11]
print(f'| non-streaming p50 / p99 (ms) | {o50:.3f} / {o99:.3f} | {n50:.3f} / {n99:.3f} | **+{n50-o50:.3f} / +{n99-o99:.3f}** |')
print(f'| streaming, whole stream, p50 / p99 (ms) | {so50:.3f} / {so99:.3f} | {sn50:.3f} / {sn99:.3f} | **+{sn50-so50:.3f} / +{sn99-so99:.3f}** |')
print(f'| gateway CPU per non-streamed request | {ocpu} µs | {ncpu} µs | +{int(ncpu) - int(ocpu)} µs |')
" "$lo50" "$lo99" "$ln50" "$ln99" "$lso50" "$lso99" "$lsn50" "$lsn99" "$off_us" "$on_us"
  echo
  echo "Response cache: Responses → Chat upstream at $RATE req/s for $DURATION, every request a miss (the upstream call and the cache write), then every request a hit (the gateway's memory cache, no upstream call)."
  echo
  echo "| | miss | hit | hit / miss |"
  echo "|---|---|---|---|"
  python3 -c "
import sys
m50, m99, h50, h99, sm50, sm99, sh50, sh99 = map(float, sys.argv[1:9])
print(f'| non-streaming p50 / p99 (ms) | {m50:.3f} / {m99:.3f} | {h50:.3f} / {h99:.3f} | **{h50/m50:.2f}x / {h99/m99:.2f}x** |')
print(f'| streaming, whole stream, p50 / p99 (ms) | {sm50:.3f} / {sm99:.3f} | {sh50:.3f} / {sh99:.3f} | **{sh50/sm50:.2f}x / {sh99/sm99:.2f}x** |')
" "$cm50" "$cm99" "$ch50" "$ch99" "$csm50" "$csm99" "$csh50" "$csh99"
  echo
  echo "Highest rate with p99 under 1 ms (ladder 1k–12k req/s, 5 s each): nginx proxy $proxy_max req/s, latticelm $gw_max req/s."
  echo
  echo "latticelm RSS: $idle_rss MiB idle (after warm-up), $load_rss MiB under $RATE req/s, $load_hwm MiB peak over the latency runs."
  echo
  echo "Concurrent slow streams: $STREAMS Chat streams at once through each, ~20 s each (the mock's \`slow:1000\`, one chunk a second)."
  echo
  echo "| | completed | memory per stream | CPU per stream | RSS before → after |"
  echo "|---|---|---|---|---|"
  echo "| nginx bare proxy | $pn / $STREAMS | $pmem kB | $pcpu ms | $pbefore → $pafter MiB |"
  echo "| latticelm | $gn / $STREAMS | $gmem kB | $gcpu ms | $gbefore → $gafter MiB |"
  echo "| latticelm / nginx | | **$(ratio "$gmem" "$pmem")** | **$(ratio "$gcpu" "$pcpu")** | |"
  if [ ${#peer_rows[@]} -gt 0 ]; then
    echo
    echo "Peer gateways on the same canned upstream, Chat Completions, non-streaming, at $PEER_RATE req/s for $DURATION (p50 / p99 ms):"
    echo
    echo "| | p50 / p99 |"
    echo "|---|---|"
    printf '%s\n' "${peer_rows[@]}"
  fi
} | tee bench-results/compare.md

# The Worker under workerd (bench/worker.sh), when its tooling is set up
# (scripts/setup-worker.sh); WORKER=0 leaves it out.
if [ "${WORKER:-1}" = 1 ] && [ -x node_modules/.bin/wrangler ]; then
  { echo; echo "### The Worker"; echo; } >>bench-results/compare.md
  N=${WORKER_N:-200} COLD=${WORKER_COLD:-3} bash bench/worker.sh | tee -a bench-results/compare.md
fi

if $soak; then
  oha -z "$SOAK" -q "$RATE" -m POST -H 'content-type: application/json' -d "$chat" --no-tui \
    --output-format json "$GW/v1/chat/completions" >"$work/soak.json" &
  soak_pid=$!
  : >"$work/rss.txt"
  while kill -0 "$soak_pid" 2>/dev/null; do rss_mb "$GW_PID" >>"$work/rss.txt"; echo >>"$work/rss.txt"; sleep 10; done
  wait "$soak_pid" || true
  python3 - "$work/rss.txt" "$work/soak.json" "$SOAK" "$RATE" <<'PY' | tee -a bench-results/compare.md
import json, sys
v = [float(x) for x in open(sys.argv[1]).read().split()]
d = json.load(open(sys.argv[2]))
p = d["latencyPercentiles"]
warm = v[len(v) // 10:] or v
lo, hi = min(warm), max(warm)
mid = (lo + hi) / 2
print()
print(f"Soak: {sys.argv[3]} at {sys.argv[4]} req/s, success rate {d['summary']['successRate']:.4f}, p50 {p['p50']*1000:.3f} ms, p99 {p['p99']*1000:.3f} ms. "
      f"RSS sampled every 10 s after the first tenth: {lo:.1f}–{hi:.1f} MiB (±{(hi-lo)/2/mid*100:.1f} % around {mid:.1f}); first {v[0]:.1f}, last {v[-1]:.1f}.")
PY
fi
