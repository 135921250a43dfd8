#!/usr/bin/env bash
# Instructions per request of one or more latticelm binaries, counted by
# callgrind (valgrind): repeatable for the same binary and inputs, so a
# small change shows where CPU-time runs cannot. Each workload runs twice
# per binary, with WARM and with WARM + N requests (sequential, on the
# canned upstream of bench/compare.sh); the difference ÷ N is the cost
# of one request, start-up and warm-up cancelled out.
#
#   bench/instructions.sh BIN [BIN…]      # e.g. two builds from bench/ab.sh
#
# Variables: N (500), WARM (100). Installs what is missing: nginx and
# valgrind (Debian), oha (crates.io).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
[ $# -ge 1 ] || { echo "usage: bench/instructions.sh BIN [BIN…]" >&2; exit 2; }
N=${N:-500}
WARM=${WARM:-100}
for pkg in nginx valgrind; do
  command -v "$pkg" >/dev/null || [ -x "/usr/sbin/$pkg" ] ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v oha >/dev/null || cargo install oha --locked

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/canned.pid" ] && kill "$(cat "$work/canned.pid" 2>/dev/null)" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_canned "$work"
cat >"$work/config.yaml" <<YAML
server:
  address: "127.0.0.1:0"
  log_level: off
providers:
  canned: { type: openai-chat, endpoint: "$CANNED" }
  canned-stream: { type: openai-chat, endpoint: "$CANNED/stream" }
models:
  - { name: bench, provider: canned }
  - { name: bench-stream, provider: canned-stream, provider_model_id: bench }
YAML

workloads=(
  "Chat|/v1/chat/completions|{\"model\":\"bench\",\"messages\":[{\"role\":\"user\",\"content\":\"hello benchmark\"}]}"
  "Responses → Chat|/v1/responses|{\"model\":\"bench\",\"input\":\"hello benchmark\"}"
  "Chat, streamed|/v1/chat/completions|{\"model\":\"bench-stream\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hello benchmark\"}]}"
  "Responses → Chat, streamed|/v1/responses|{\"model\":\"bench-stream\",\"input\":\"hello benchmark\",\"stream\":true}"
)

# Instructions of a whole run of BIN serving COUNT requests to PATH.
run() { # bin path body count
  local out=$work/cg.out
  valgrind --tool=callgrind --callgrind-out-file="$out" "$1" serve --config "$work/config.yaml" \
    --threads 1 >"$work/gw.log" 2>&1 &
  local pid=$!
  local gw
  gw=$(wait_line "$work/gw.log")
  oha -n "$4" -c 1 -m POST -H 'content-type: application/json' -d "$3" --no-tui "$gw$2" >/dev/null
  kill -INT "$pid"; wait "$pid" 2>/dev/null || true
  awk '/^summary:/ {print $2}' "$out"
  rm -f "$out"*
}

printf '| | %s |\n' "$(printf '%s | ' "$@" | sed 's/ | $//')"
printf '|---|%s\n' "$(printf '%.0s---|' "$@")"
for w in "${workloads[@]}"; do
  IFS='|' read -r name path body <<<"$w"
  row="| $name |"
  for bin in "$@"; do
    low=$(run "$bin" "$path" "$body" "$WARM")
    high=$(run "$bin" "$path" "$body" $((WARM + N)))
    row="$row $(( (high - low) / N / 1000 ))k |"
  done
  echo "$row"
done
