"""The official `anthropic` Python SDK against the gateway's /v1/messages,
on one model: plain, streamed, a tool round trip (streamed and not), an
image, extended thinking across a tool round trip, and errors in
Anthropic's shape. Prints OK lines; raises on a mismatch.

usage: python3 messages_check.py BASE_URL MODEL   (BASE_URL without /v1)
"""
import json
import sys

import anthropic

# A 1x1 PNG.
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

TOOLS = [{"name": "get_weather", "description": "Weather for a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def main(base_url: str, model: str) -> None:
    c = anthropic.Anthropic(base_url=base_url, api_key="not-needed", max_retries=0)
    m = c.messages.create(model=model, max_tokens=256, system="Be brief.",
                          messages=[{"role": "user", "content": "hello messages"}])
    assert m.type == "message" and m.role == "assistant", m
    assert m.content[0].type == "text" and m.content[0].text.endswith("hello messages"), m
    assert m.stop_reason == "end_turn", m
    assert m.usage.input_tokens >= 0 and m.usage.output_tokens > 0, m
    print("OK plain")

    with c.messages.stream(model=model, max_tokens=256, messages=[{"role": "user", "content": "stream messages"}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text.endswith("stream messages"), text
    assert final.stop_reason == "end_turn", final
    print("OK stream")

    for stream in (False, True):
        msgs = [{"role": "user", "content": "use get_weather for Oslo"}]
        if stream:
            with c.messages.stream(model=model, max_tokens=256, messages=msgs, tools=TOOLS) as s:
                first = s.get_final_message()
        else:
            first = c.messages.create(model=model, max_tokens=256, messages=msgs, tools=TOOLS)
        assert first.stop_reason == "tool_use", first
        use = [b for b in first.content if b.type == "tool_use"][0]
        assert use.name == "get_weather" and "city" in use.input, use
        msgs.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]})
        second = c.messages.create(model=model, max_tokens=256, messages=msgs, tools=TOOLS)
        assert second.content[0].text == "tool said: sunny", second
    print("OK tools")

    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    m = c.messages.create(model=model, max_tokens=256, messages=[
        {"role": "user", "content": [image, {"type": "text", "text": "describe this"}]}])
    assert m.content[0].text == "echo [1 image]: describe this", m
    print("OK images")

    # Extended thinking through a tool round trip: the thinking block comes
    # back (signed) and goes in again, as Claude requires.
    think = {"type": "enabled", "budget_tokens": 1024}
    msgs = [{"role": "user", "content": "use get_weather for Oslo"}]
    with c.messages.stream(model=model, max_tokens=2048, thinking=think, messages=msgs, tools=TOOLS) as s:
        thought = "".join(e.thinking for e in s if e.type == "thinking")
        first = s.get_final_message()
    assert first.stop_reason == "tool_use", first
    if model.startswith("claude"):
        block = first.content[0]
        assert block.type == "thinking" and block.thinking == thought and thought, first
        assert block.signature.startswith("lattice2."), block
    use = [b for b in first.content if b.type == "tool_use"][0]
    msgs.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
    msgs.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]})
    second = c.messages.create(model=model, max_tokens=2048, thinking=think, messages=msgs, tools=TOOLS)
    text = [b for b in second.content if b.type == "text"]
    assert text and text[0].text == "tool said: sunny", second
    print("OK thinking")

    # Fields Open Responses does not model reach Claude as written.
    cached = c.messages.create(model=model, max_tokens=64, extra_body={"top_k": 5}, messages=[{"role": "user", "content": [
        {"type": "text", "text": "cache me", "cache_control": {"type": "ephemeral"}}]}])
    if model.startswith("claude"):
        assert cached.usage.cache_read_input_tokens == 8, cached.usage
    print("OK as written")

    try:
        c.messages.create(model=model, max_tokens=16, messages=[{"role": "robot", "content": "x"}])
        raise AssertionError("a bad role was accepted")
    except anthropic.BadRequestError as e:
        assert e.body["type"] == "error" and e.body["error"]["type"] == "invalid_request_error", e.body
    print("OK errors")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
