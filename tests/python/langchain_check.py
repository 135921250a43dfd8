"""LangChain's `ChatOpenAI` (langchain-openai, on the openai SDK's Chat
Completions) against the gateway's /v1/chat/completions, on one model:
invoke, stream, a bound tool with its result sent back, and structured
output. Prints OK lines; raises on a mismatch.

usage: python3 langchain_check.py BASE_URL MODEL   (BASE_URL with /v1)
"""
import sys

from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return "sunny"


class Weather(BaseModel):
    city: str
    summary: str


def main(base_url: str, model: str) -> None:
    llm = ChatOpenAI(base_url=base_url, api_key="not-needed", model=model, max_retries=0,
                     use_responses_api=False)
    r = llm.invoke("hello langchain")
    assert r.content.endswith("hello langchain"), r
    print("OK invoke")

    text = "".join(c.content for c in llm.stream("stream langchain"))
    assert text.endswith("stream langchain"), text
    print("OK stream")

    bound = llm.bind_tools([get_weather])
    msgs = [HumanMessage("use get_weather for Oslo")]
    ai = bound.invoke(msgs)
    call = ai.tool_calls[0]
    assert call["name"] == "get_weather" and "city" in call["args"], ai
    msgs += [ai, ToolMessage(get_weather.invoke(call["args"]), tool_call_id=call["id"])]
    final = bound.invoke(msgs)
    assert final.content == "tool said: sunny", final
    print("OK tools")

    w = llm.with_structured_output(Weather).invoke("the weather in Oslo")
    assert isinstance(w, Weather) and w.city and w.summary, w
    print("OK structured")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
