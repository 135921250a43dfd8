#!/usr/bin/env bash
# Fails when the Worker's gzip upload exceeds 3 MiB (Cloudflare's free-plan
# limit). Reads wrangler's "Total Upload: X KiB / gzip: Y KiB" line and
# reports the wasm's own sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
line=$(grep -m1 "Total Upload" "$1") || { echo "no 'Total Upload' line in $1" >&2; exit 1; }
gzip_kib=$(echo "$line" | sed -E 's/.*gzip: ([0-9.]+) KiB.*/\1/')
wasm=$(ls dist/*.wasm | head -1)
echo "wasm: $(stat -c%s "$wasm") bytes raw, $(gzip -9c "$wasm" | wc -c) bytes gzip; upload: $line"
python3 - "$gzip_kib" <<'PY'
import sys
gz = float(sys.argv[1])
limit = 3 * 1024
print(f"gzip upload {gz:.1f} KiB of {limit} KiB ({gz / limit:.0%})")
sys.exit(0 if gz <= limit else 1)
PY
