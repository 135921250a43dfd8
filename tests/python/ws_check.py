"""The WebSocket transport's limits, driven by the `websockets` library
(a real client, with its own keepalive pings).

    python3 ws_check.py <scenario> <ws-url> [model]

Each scenario prints `OK <scenario>` when the gateway behaved.
"""

import asyncio
import json
import sys
import time

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

SCENARIO, URL = sys.argv[1], sys.argv[2]
MODEL = sys.argv[3] if len(sys.argv) > 3 else "claude-test"


async def turn(ws, body):
    body = dict(body, type="response.create")
    await ws.send(json.dumps(body))
    events = []
    while True:
        event = json.loads(await ws.recv())
        events.append(event)
        if event["type"] in ("response.completed", "response.failed", "response.incomplete", "error"):
            return events


async def refused(url, **kw):
    try:
        async with websockets.connect(url, **kw):
            return None
    except InvalidStatus as e:
        return e.response.status_code


async def origin():
    host = URL.split("://", 1)[1].split("/", 1)[0]
    # A page on another site, auth off: refused at the upgrade.
    for bad in ["https://evil.example", "null"]:
        status = await refused(URL, origin=bad)
        assert status == 403, (bad, status)
    # The gateway's own page may.
    async with websockets.connect(URL, origin=f"http://{host}") as ws:
        events = await turn(ws, {"model": MODEL, "input": "hi", "store": False})
        assert events[-1]["type"] == "response.completed", events[-1]
    # Only /v1/responses upgrades.
    other = URL.replace("/v1/responses", "/v1/chat/completions")
    assert await refused(other) == 404
    assert await refused(URL.replace("/v1/responses", "/")) == 404


async def pings():
    # websockets pings every 0.5 s and gives up after 1 s without a pong;
    # the model takes 3 s before its first output.
    async with websockets.connect(URL, ping_interval=0.5, ping_timeout=1) as ws:
        started = time.monotonic()
        events = await turn(ws, {"model": MODEL, "input": "slow one", "store": False})
        assert events[-1]["type"] == "response.completed", events[-1]
        assert time.monotonic() - started > 2.5
        # And a second turn on the same connection.
        events = await turn(ws, {"model": MODEL, "input": "again", "store": False})
        assert events[-1]["type"] == "response.completed", events[-1]


async def idle():
    async with websockets.connect(URL) as ws:
        started = time.monotonic()
        frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert frame["error"]["code"] == "websocket_idle_timeout", frame
        try:
            await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError("still open")
        except ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1000, e
        assert time.monotonic() - started < 8


async def too_large():
    async with websockets.connect(URL, max_size=None) as ws:
        # 60 MiB in 4 fragments against max_request_bytes: 1 MiB.
        piece = "x" * (15 * 1024 * 1024)

        async def fragments():
            for _ in range(4):
                yield piece

        started = time.monotonic()
        try:
            await ws.send(fragments())
        except ConnectionClosed:
            pass
        code = None
        frames = []
        try:
            while True:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
        assert code == 1009, (code, frames)
        assert any(f.get("error", {}).get("code") == "request_too_large" for f in frames), frames
        assert time.monotonic() - started < 10


async def shutdown():
    # The test sends SIGTERM while this turn waits on a slow model: the
    # turn finishes, then the connection closes with 1001.
    async with websockets.connect(URL) as ws:
        print("READY", flush=True)
        events = await turn(ws, {"model": MODEL, "input": "slow one", "store": False})
        assert events[-1]["type"] == "response.completed", events[-1]
        try:
            await asyncio.wait_for(ws.recv(), 10)
            raise AssertionError("still open")
        except ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1001, e


asyncio.run(globals()[SCENARIO]())
print(f"OK {SCENARIO}")
