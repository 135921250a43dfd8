#!/usr/bin/env bash
# Two builds of latticelm measured alternately in one run: CPU per request
# (the gateway process's CPU time ÷ requests) at a fixed rate, on the
# canned upstream of bench/compare.sh (nginx answering a recorded-shape
# Chat Completions body and stream from memory), for the four workloads:
# Chat and Responses → Chat, each whole and streamed.
#
#   bench/ab.sh BASE [ROUNDS]     # BASE: a commit; the other build is the work tree
#   BASE_BIN=… HEAD_BIN=… bench/ab.sh - [ROUNDS]   # two binaries already built
#
# Each round starts each build afresh (in turn, the order alternating
# from round to round), warms it up, and loads it with every workload;
# the table gives every round's figure, so the spread between runs of
# the same build is visible beside the difference between the builds.
# Variables: RATE (2000), DURATION (5s). Everything listens on 127.0.0.1.
# Installs what is missing: nginx (Debian), oha (crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
BASE=${1:?usage: bench/ab.sh BASE [ROUNDS]}
ROUNDS=${2:-3}
RATE=${RATE:-2000}
DURATION=${DURATION:-5s}
target=${CARGO_TARGET_DIR:-target}

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v oha >/dev/null || cargo install oha --locked
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/canned.pid" ] && kill "$(cat "$work/canned.pid" 2>/dev/null)" 2>/dev/null || true
  [ -d "$work/base" ] && git worktree remove --force "$work/base" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# --- the two builds -------------------------------------------------------------
if [ "$BASE" = - ]; then
  base_bin=${BASE_BIN:?set BASE_BIN and HEAD_BIN}
  head_bin=${HEAD_BIN:?set BASE_BIN and HEAD_BIN}
  base_name=base; head_name=head
else
  git worktree add --detach "$work/base" "$BASE" >/dev/null
  (cd "$work/base" && cargo build --release --quiet -p latticelm)
  cp "$target/release/latticelm" "$work/latticelm-base"
  cargo build --release --quiet -p latticelm
  cp "$target/release/latticelm" "$work/latticelm-head"
  base_bin=$work/latticelm-base; head_bin=$work/latticelm-head
  base_name=$(git rev-parse --short "$BASE")
  head_name="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo +)"
fi


# --- the canned upstream (as in compare.sh) -------------------------------------
start_canned "$work"
cat >"$work/config.yaml" <<YAML
server:
  address: "127.0.0.1:0"
  log_level: off
  max_connections: 40000
providers:
  canned: { type: openai-chat, endpoint: "$CANNED" }
  canned-stream: { type: openai-chat, endpoint: "$CANNED/stream" }
models:
  - { name: bench, provider: canned }
  - { name: bench-stream, provider: canned-stream, provider_model_id: bench }
YAML

chat='{"model":"bench","messages":[{"role":"user","content":"hello benchmark"}]}'
chat_stream='{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"hello benchmark"}]}'
resp='{"model":"bench","input":"hello benchmark"}'
resp_stream='{"model":"bench-stream","input":"hello benchmark","stream":true}'
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
secs=$(python3 -c "import sys; s=sys.argv[1]; print(float(s[:-1]) * (60 if s.endswith('m') else 1))" "$DURATION")
cpu_us() { python3 -c "import sys; t, hz, rate, secs = map(float, sys.argv[1:]); print(f'{t / hz * 1e6 / (rate * secs):.0f}')" "$1" "$(getconf CLK_TCK)" "$RATE" "$secs"; }
load() { # url body: every request must succeed
  oha -z "$DURATION" -q "$RATE" -m POST -H 'content-type: application/json' -d "$2" \
    --no-tui --output-format json "$1" >"$work/oha.json"
  python3 - "$work/oha.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ok = d["summary"]["successRate"]
codes = d.get("statusCodeDistribution", {})
assert ok == 1.0 and set(codes) <= {"200"}, f"success rate {ok}, statuses {codes}"
PY
}

# One build, started afresh: "chat resp chat_stream resp_stream" in µs.
measure() { # binary
  "$1" serve --config "$work/config.yaml" --threads 1 >"$work/gw.log" 2>&1 &
  local pid=$!
  local gw
  gw=$(wait_line "$work/gw.log")
  oha -n 2000 -c 16 -m POST -H 'content-type: application/json' -d "$chat" --no-tui "$gw/v1/chat/completions" >/dev/null
  oha -n 2000 -c 16 -m POST -H 'content-type: application/json' -d "$resp" --no-tui "$gw/v1/responses" >/dev/null
  local out=() t0 t1 pair
  for pair in "/v1/chat/completions|$chat" "/v1/responses|$resp" "/v1/chat/completions|$chat_stream" "/v1/responses|$resp_stream"; do
    t0=$(cpu_ticks "$pid")
    load "$gw${pair%%|*}" "${pair#*|}"
    t1=$(cpu_ticks "$pid")
    out+=("$(cpu_us $((t1 - t0)))")
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "${out[*]}"
}

declare -a B H
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then
    b=$(measure "$base_bin"); h=$(measure "$head_bin")
  else
    h=$(measure "$head_bin"); b=$(measure "$base_bin")
  fi
  B+=("$b"); H+=("$h")
  echo "round $r: $base_name $b | $head_name $h" >&2
done

python3 - "$base_name" "$head_name" "$RATE" "$DURATION" "${B[@]}" -- "${H[@]}" <<'PY'
import sys, statistics
base, head, rate, dur = sys.argv[1:5]
rest = sys.argv[5:]
cut = rest.index("--")
b = [list(map(int, r.split())) for r in rest[:cut]]
h = [list(map(int, r.split())) for r in rest[cut + 1:]]
names = ["Chat", "Responses → Chat", "Chat, streamed", "Responses → Chat, streamed"]
print(f"CPU per request in µs, {len(b)} rounds alternating, {rate} req/s for {dur} each, one gateway thread:\n")
print(f"| | {base} (each round) | {head} (each round) | median change |")
print("|---|---|---|---|")
for i, n in enumerate(names):
    bs = [r[i] for r in b]; hs = [r[i] for r in h]
    mb, mh = statistics.median(bs), statistics.median(hs)
    print(f"| {n} | {', '.join(map(str, bs))} | {', '.join(map(str, hs))} | {100 * (mh - mb) / mb:+.0f} % |")
PY
