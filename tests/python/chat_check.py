"""The official `openai` Python SDK's Chat Completions API against the
gateway's /v1/chat/completions, on one model: plain, streamed, a tool
round trip, structured output. Prints OK lines; raises on a mismatch.

usage: python3 chat_check.py BASE_URL MODEL
"""
import json
import sys

from openai import OpenAI

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def main(base_url: str, model: str) -> None:
    c = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    r = c.chat.completions.create(model=model, messages=[
        {"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello chat"}])
    assert r.object == "chat.completion", r
    assert r.choices[0].message.content.endswith("hello chat"), r
    assert r.choices[0].finish_reason == "stop", r
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens >= r.usage.prompt_tokens, r
    print("OK plain")

    chunks = list(c.chat.completions.create(model=model, stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": "stream chat"}]))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text.endswith("stream chat"), text
    assert chunks[-1].usage is not None and chunks[-1].choices == [], chunks[-1]
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"
    print("OK stream")

    for stream in (False, True):
        msgs = [{"role": "user", "content": "use get_weather for Oslo"}]
        if stream:
            calls = {}
            for ch in c.chat.completions.create(model=model, messages=msgs, tools=TOOLS, stream=True):
                for d in (ch.choices[0].delta.tool_calls or []) if ch.choices else []:
                    e = calls.setdefault(d.index, {"id": None, "name": None, "arguments": ""})
                    e["id"] = d.id or e["id"]
                    if d.function and d.function.name:
                        e["name"] = d.function.name
                    if d.function and d.function.arguments:
                        e["arguments"] += d.function.arguments
            call = calls[0]
        else:
            r = c.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
            assert r.choices[0].finish_reason == "tool_calls", r
            tc = r.choices[0].message.tool_calls[0]
            call = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
        assert call["name"] == "get_weather" and json.loads(call["arguments"]), call
        msgs.append({"role": "assistant", "content": None, "tool_calls": [
            {"id": call["id"], "type": "function", "function": {"name": call["name"], "arguments": call["arguments"]}}]})
        msgs.append({"role": "tool", "tool_call_id": call["id"], "content": "sunny"})
        r = c.chat.completions.create(model=model, messages=msgs, tools=TOOLS)
        assert r.choices[0].message.content == "tool said: sunny", r
    print("OK tools")

    r = c.chat.completions.create(model=model, messages=[{"role": "user", "content": "a city"}],
                                  response_format={"type": "json_schema", "json_schema": {"name": "city", "strict": True,
                                  "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}})
    assert "name" in json.loads(r.choices[0].message.content), r
    print("OK json")

    try:
        c.chat.completions.create(model=model, n=2, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("n=2 accepted")
    except Exception as e:  # noqa: BLE001
        assert getattr(e, "status_code", None) == 400, e
    print("OK n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
