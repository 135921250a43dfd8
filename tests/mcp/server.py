"""The MCP server the tests start: the official Python SDK (`mcp` 2.x),
Streamable HTTP on 127.0.0.1, both protocol generations on one endpoint
(2026-07-28 stateless, and the 2025-11-25 `initialize` handshake).

Tools: `add`, `echo`, `get_weather` (read-only), `fail` (the tool
raises: `isError`), `slow` (sleeps past any sane call timeout), `big`
(answers 10 MB). Every HTTP request's headers and every tool call's
arguments are appended, one JSON object a line, to `--record`, so tests
can see what the gateway sent.

Usage: python3 server.py --port N --record FILE [--json]
It prints `listening <port>` once it accepts connections.
"""
import argparse
import asyncio
import json
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--record", required=True)
p.add_argument("--json", action="store_true", help="answer JSON, not SSE")
p.add_argument(
    "--legacy-only",
    action="store_true",
    help="refuse the 2026-07-28 generation as a handshake-era server does (400)",
)
args = p.parse_args()


def record(entry):
    with open(args.record, "a") as f:
        f.write(json.dumps(entry) + "\n")


mcp = MCPServer("latticelm-test", instructions="Tools for latticelm's tests.")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    record({"tool": "add", "arguments": {"a": a, "b": b}})
    return a + b


@mcp.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    record({"tool": "echo", "arguments": {"text": text}})
    return text


@mcp.tool(annotations={"readOnlyHint": True})
def get_weather(city: str) -> str:
    """The weather in a city."""
    record({"tool": "get_weather", "arguments": {"city": city}})
    return f"Sunny, 21 C in {city}"


@mcp.tool()
def fail(reason: str) -> str:
    """Always fails."""
    record({"tool": "fail", "arguments": {"reason": reason}})
    raise ValueError(reason)


@mcp.tool()
async def slow(seconds: int) -> str:
    """Sleeps."""
    record({"tool": "slow", "arguments": {"seconds": seconds}})
    await asyncio.sleep(seconds)
    return "woke up"


@mcp.tool()
def big() -> str:
    """Answers 10 MB."""
    record({"tool": "big", "arguments": {}})
    return "x" * (10 << 20)


app = mcp.streamable_http_app(json_response=args.json, host="127.0.0.1")


async def recorded(scope, receive, send):
    """Records each HTTP request's method, path and headers."""
    if scope["type"] == "http":
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        record({"http": scope["method"], "path": scope["path"], "headers": headers})
        if args.legacy_only and headers.get("mcp-protocol-version") == "2026-07-28":
            # What a server of the handshake generation answers a request
            # without a session.
            body = b'{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":"Bad Request: Missing session ID"}}'
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": body})
            return
    await app(scope, receive, send)


class Ready(uvicorn.Server):
    async def startup(self, sockets=None):
        await super().startup(sockets)
        print(f"listening {args.port}", flush=True)


Ready(uvicorn.Config(recorded, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")).run()
