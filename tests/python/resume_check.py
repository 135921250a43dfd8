"""The official `openai` and `anthropic` Python SDKs, streaming through
the gateway while the first target cuts the stream mid-answer: each sees
one answer, whole, with no seam.

usage: python3 resume_check.py BASE_URL PROMPT MODEL   (BASE_URL without /v1; the mock echoes PROMPT)
"""
import sys

import anthropic
import openai


def main(base_url: str, prompt: str, model: str) -> None:
    expected = "echo: " + prompt
    o = openai.OpenAI(base_url=base_url + "/v1", api_key="not-needed", max_retries=0)
    with o.responses.stream(model=model, input=prompt) as s:
        text = "".join(e.delta for e in s if e.type == "response.output_text.delta")
        final = s.get_final_response()
    assert text == expected, (text, expected)
    assert final.status == "completed" and len(final.output) == 1, final
    assert final.output_text == expected, final.output_text
    print("OK openai responses stream")

    chunks = o.chat.completions.create(model=model, stream=True, messages=[{"role": "user", "content": prompt}])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected, (text, expected)
    print("OK openai chat stream")

    a = anthropic.Anthropic(base_url=base_url, api_key="not-needed", max_retries=0)
    with a.messages.stream(model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}]) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == expected, (text, expected)
    assert final.stop_reason == "end_turn" and len(final.content) == 1, final
    print("OK anthropic messages stream")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
