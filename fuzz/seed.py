#!/usr/bin/env python3
"""Seeds the fuzz corpora from ../../shared/fixtures (recorded provider
streams), the config examples and a few requests and tokens. Run from
fuzz/: python3 seed.py. The committed corpora are its output."""
import glob, hashlib, json, os

FIX = "../../shared/fixtures"
PROTOCOL = {"openai-responses": 0, "azure-openai-responses": 0, "open-responses": 0,
            "openai-chat": 1, "anthropic": 2, "google": 3}


def write(target, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data)


def sse(folder, text):
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if PROTOCOL[folder] in (0, 2):
            kind = line.split('"type":"', 1)[1].split('"', 1)[0] if '"type":"' in line else "message"
            out.append(f"event: {kind}\ndata: {line}\n\n")
        else:
            out.append(f"data: {line}\n\n")
    if PROTOCOL[folder] == 1:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode()


for path in sorted(glob.glob(f"{FIX}/*/*.chunks.txt")):
    folder = path.split("/")[-2]
    data = sse(folder, open(path).read())[:65536]
    write("sse_decoder", bytes([len(data) // 2 % 256]) + data)
    write("stream_translators", bytes([PROTOCOL[folder]]) + data)

for body in [
    {"model": "m", "input": "hello"},
    {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "see"}, {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="}]}]},
    {"model": "m", "instructions": "be brief", "input": [{"role": "user", "content": "a"}, {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}, {"type": "function_call_output", "call_id": "c1", "output": "ok"}], "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}], "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": [{"type": "function", "name": "f"}]}},
    {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}}}, "reasoning": {"effort": "low"}, "max_output_tokens": 5, "temperature": 0.5, "metadata": {"k": "v"}},
    {"model": "m", "input": [{"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "anthropic:c2ln"}, {"role": "user", "content": "b"}]},
]:
    write("request", json.dumps(body).encode())

for path in ["../config.example.yaml", "../crates/core/src/config/default.yaml"]:
    write("config", open(path, "rb").read())
write("config", b"routing: { retries: 2, backoff: 100ms, circuit_breaker: { failures: 5, cooldown: 30s }, deadline: 10m }\nmodels: [ { name: a, provider: p, fallbacks: [a] } ]\nproviders: { p: { type: openai-chat, endpoint: \"${SET}\" } }\n")

for token in [
    "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjLTEifQ.eyJpc3MiOiJodHRwczovL2lzc3Vlci50ZXN0Iiwic3ViIjoieCIsImF1ZCI6ImxhdHRpY2VsbSIsImV4cCI6MTkwMDAwMDAwMH0.c2ln",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "eyJhbGciOiJIUzI1NiJ9.e30.c2ln",
    "key-1",
    "eyJhbGciOjd9.e30.e30",
]:
    write("jwt", token.encode())

# WebSocket messages: turns, a continuation on the connection, malformed
# frames (frames of one input are separated by a NUL byte).
create = lambda **kw: json.dumps(dict({"type": "response.create", "model": "mock"}, **kw))
for frames in [
    [create(input="hi", store=False)],
    [create(input="hi", store=False), create(input="again", store=False, previous_response_id="resp_0505050505050505")],
    [create(input=[{"role": "user", "content": "call get_weather"}],
            tools=[{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}])],
    [json.dumps({"type": "response.cancel"})],
    ["not json"],
    [create(input="x", background=True)],
]:
    write("ws_frame", "\0".join(frames).encode())
