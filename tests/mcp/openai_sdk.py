"""The official `openai` Python SDK, unmodified but for `base_url`, with
a hosted MCP tool on a model no MCP reaches without the gateway:
python3 openai_sdk.py GATEWAY_URL KEY MODEL. Prints one JSON object:
{"types": [...output item types...], "text": ..., "events": [...]}."""
import json
import sys

from openai import OpenAI

url, key, model = sys.argv[1:4]
client = OpenAI(base_url=url + "/v1", api_key=key)
tools = [{"type": "mcp", "server_label": "weather", "require_approval": "never"}]
r = client.responses.create(model=model, input="What is the weather? run: Accra", tools=tools)
events = [e.type for e in client.responses.create(
    model=model, input="What is the weather? run: Accra", tools=tools, stream=True)]
print(json.dumps({
    "types": [item.type for item in r.output],
    "text": r.output_text,
    "call": next(i.output for i in r.output if i.type == "mcp_call"),
    "events": events,
}))
