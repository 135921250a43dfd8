"""The openai SDK against a key with `concurrent: 1`: it reads the
x-ratelimit-* headers, and its built-in retry waits out a 429's
retry-after, then succeeds. argv: base URL, key, model."""
import sys
import threading
import time

import httpx
import openai

base, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
statuses = []
http = httpx.Client(event_hooks={"response": [lambda r: statuses.append(r.status_code)]})
client = openai.OpenAI(base_url=base, api_key=key, max_retries=3, http_client=http)

raw = client.responses.with_raw_response.create(model=model, input="hi")
h = raw.headers
assert h["x-ratelimit-limit-requests"] == "100", dict(h)
assert int(h["x-ratelimit-remaining-requests"]) < 100, dict(h)
assert h["x-ratelimit-reset-requests"].endswith("s"), dict(h)
raw.parse()
print("OK headers")

# A slow stream holds the only slot for about a second and a half.
holder = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
def hold():
    with holder.responses.stream(model="slow", input="one two three four five six seven eight") as s:
        for _ in s:
            pass
t = threading.Thread(target=hold)
t.start()
time.sleep(0.4)
statuses.clear()
t0 = time.time()
r = client.responses.create(model=model, input="after the wait")
waited = time.time() - t0
t.join()
assert r.status == "completed", r
assert 429 in statuses and statuses[-1] == 200, statuses
assert waited >= 0.9, f"the SDK waited {waited:.2f}s, less than retry-after"
print(f"OK retried after {waited:.2f}s: {statuses}")
