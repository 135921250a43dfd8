"""An MCP client on the official Python SDK (`mcp` 2.x), as the tests
drive `POST /mcp` of the gateway: connects in `--mode` (`2026-07-28`,
`legacy` for the initialize handshake, or `auto`) with the gateway key
as a bearer token, lists the tools, calls one, and prints one JSON
object: {"protocol_version", "tools", "is_error", "content"}.

Usage: python3 client.py URL KEY --mode M --tool NAME --args JSON
"""
import argparse
import asyncio
import json

from mcp import Client
from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("key")
    p.add_argument("--mode", default="auto")
    p.add_argument("--tool", required=True)
    p.add_argument("--args", default="{}")
    a = p.parse_args()
    http = create_mcp_http_client(headers={"authorization": f"Bearer {a.key}"})
    transport = streamable_http_client(a.url, http_client=http)
    async with Client(transport, mode=a.mode) as client:
        tools = []
        cursor = None
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += [t.name for t in page.tools]
            cursor = page.next_cursor
            if not cursor:
                break
        r = await client.call_tool(a.tool, json.loads(a.args))
        print(json.dumps({
            "protocol_version": client.protocol_version,
            "tools": tools,
            "is_error": r.is_error,
            "content": [c.model_dump(exclude_none=True) for c in r.content],
        }))


asyncio.run(main())
