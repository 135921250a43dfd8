"""The official `openai` Python SDK against a running latticelm gateway.

usage: python3 sdk_check.py BASE_URL   (for example http://127.0.0.1:8080/v1)
Only `base_url` differs from talking to OpenAI itself.
"""
import json
import sys

from openai import OpenAI

WEATHER = [{
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}]


def main(base_url: str) -> None:
    client = OpenAI(base_url=base_url, api_key="not-needed", max_retries=0)
    checks = 0
    for model in ["gpt-4o-mini", "llama", "offline", "claude-test", "gemini-test"]:
        # Plain text.
        r = client.responses.create(model=model, input="hello from the sdk", instructions="Be brief.")
        assert r.status == "completed", r
        assert r.output_text.endswith("hello from the sdk"), r.output_text
        assert r.usage is not None and r.usage.total_tokens > 0
        checks += 1

        # Streaming with the SDK's helper: deltas add up to the final text.
        with client.responses.stream(model=model, input="stream from the sdk") as stream:
            deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
        assert "".join(deltas) == final.output_text, (deltas, final.output_text)
        assert final.output_text.endswith("stream from the sdk"), final.output_text
        checks += 1

        # A function call, then its result.
        r = client.responses.create(model=model, input="use get_weather for Rome", tools=WEATHER)
        calls = [o for o in r.output if o.type == "function_call"]
        assert len(calls) == 1 and calls[0].name == "get_weather", r.output
        assert json.loads(calls[0].arguments)["city"] == "use get_weather for Rome"
        follow = client.responses.create(model=model, tools=WEATHER, input=[
            {"role": "user", "content": "use get_weather for Rome"},
            {"type": "function_call", "call_id": calls[0].call_id, "name": calls[0].name, "arguments": calls[0].arguments},
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"},
        ])
        assert follow.output_text.endswith("sunny"), follow.output_text
        checks += 1

        # Streamed function call arguments.
        with client.responses.stream(model=model, input="use get_weather for Oslo", tools=WEATHER) as stream:
            arg_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
            final = stream.get_final_response()
        call = [o for o in final.output if o.type == "function_call"][0]
        assert "".join(arg_deltas) == call.arguments, (arg_deltas, call.arguments)
        checks += 1

    # Errors arrive as the SDK's typed exceptions.
    try:
        client.responses.create(model="no-such-model", input="x")
        raise AssertionError("expected NotFoundError")
    except Exception as e:  # noqa: BLE001 - checking the type below
        assert type(e).__name__ == "NotFoundError", repr(e)
        assert "no-such-model" in str(e)
    checks += 1
    print(f"{checks} passed, 0 failed")


if __name__ == "__main__":
    main(sys.argv[1])
