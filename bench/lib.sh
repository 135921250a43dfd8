# Shared by the bench scripts (sourced): waiting for servers and
# sequential time to first byte. Uses $N (samples) from the caller.

wait_line() { # file → the http:// address printed in it
  for _ in $(seq 200); do
    if grep -q 'http://' "$1" 2>/dev/null; then grep -o 'http://[0-9.:]*' "$1" | head -1; return; fi
    sleep 0.05
  done
  echo "no address in $1" >&2; exit 1
}

wait_port() { # port → once something listens on 127.0.0.1:port
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.05; done
  echo "port $1 never opened" >&2; exit 1
}

# Sequential time to first byte of a stream → "p50 p99" in ms.
ttfb() { # url body
  for _ in $(seq "$N"); do
    curl -s -o /dev/null -w '%{time_starttransfer}\n' -H 'content-type: application/json' -d "$2" "$1"
  done | python3 -c '
import sys
v = sorted(float(x) * 1000 for x in sys.stdin)
print(f"{v[len(v)//2]:.3f} {v[int(len(v)*0.99)-1]:.3f}")'
}

# The canned upstream's answers (a recorded-shape Chat Completions body
# and a whole SSE stream), shared by compare.sh and ab.sh: sets $body and
# writes $1/stream.sse, then sets $stream_body (escaped for nginx).
canned_answers() { # dir
  body='{"id":"chatcmpl-bench","object":"chat.completion","created":1800000000,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"echo: hello benchmark","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15},"system_fingerprint":"fp_bench"}'
  chunk() { printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1800000000,"model":"bench","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}\n\n' "$1" "$2"; }
  {
    chunk '{"role":"assistant","content":""}' null
    for w in echo: hello bench mark; do chunk "{\"content\":\"$w \"}" null; done
    chunk '{}' '"stop"'
    printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1800000000,"model":"bench","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}\n\n'
    printf 'data: [DONE]\n\n'
  } >"$1/stream.sse"
  stream_body=$(sed 's/\\/\\\\/g; s/"/\\"/g' "$1/stream.sse")
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The canned upstream alone in one nginx worker (ab.sh, instructions.sh):
# writes its files under $1, starts it, appends its pid to pids and sets
# CANNED to its address. Needs $NGINX.
start_canned() { # dir
  local port
  port=$(free_port)
  canned_answers "$1"
  cat >"$1/canned.conf" <<NGINX
worker_processes 1;
pid $1/canned.pid;
error_log $1/nginx-error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 32768; }
http {
  access_log off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$port;
    location = /v1/chat/completions { default_type application/json; return 200 '$body'; }
    location = /stream/v1/chat/completions { default_type text/event-stream; return 200 "$stream_body"; }
  }
}
NGINX
  "$NGINX" -c "$1/canned.conf" -p "$1" -g 'daemon off;' 2>>"$1/nginx-error.log" & pids+=($!)
  wait_port "$port"
  CANNED="http://127.0.0.1:$port"
}
