"""The fake's other endpoints, through the real client, since other suites rely on them."""

import json
import math
import re

import httpx
import openai

from tests.fakes.openai_server import FakeOpenAIServer, embedding


async def test_models_and_embeddings(openai_fake: FakeOpenAIServer) -> None:
    openai_fake.embedding_dim = 16
    client = openai.AsyncOpenAI(base_url=openai_fake.base_url, api_key="x", max_retries=0)
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake-model"]

    result = await client.embeddings.create(model="e", input=["alpha", "beta", "alpha"])
    vectors = [d.embedding for d in result.data]
    assert all(len(v) == 16 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0, rel_tol=1e-5)
    assert all(
        math.isclose(a, b, rel_tol=1e-5) for a, b in zip(vectors[0], embedding("alpha", 16), strict=True)
    )

    floats = await client.embeddings.create(model="e", input="alpha", encoding_format="float", dimensions=8)
    assert len(floats.data[0].embedding) == 8
    await client.close()


async def test_usage_counts_the_words_and_marks_of_what_was_sent(openai_fake: FakeOpenAIServer) -> None:
    """The fake counts each message once and remembers it; the count must stay that of the whole body."""
    client = openai.AsyncOpenAI(base_url=openai_fake.base_url, api_key="x", max_retries=0)
    tools = [{"type": "function", "function": {"name": "send_message", "parameters": {"type": "object"}}}]
    conversation: list = [{"role": "system", "content": "You are Sam, a helper."}]
    for said in ["Hello there!", "How's it going, friend?"]:
        conversation.append({"role": "user", "content": said})
        for offered in (tools, []):
            reply = await client.chat.completions.create(
                model="m", messages=conversation, **({"tools": tools} if offered else {})
            )
            sent = openai_fake.chat_requests[-1]
            whole = json.dumps(sent["messages"]) + json.dumps(sent.get("tools", []))
            assert reply.usage is not None
            assert reply.usage.prompt_tokens == len(re.findall(r"\w+|[^\w\s]", whole))
        conversation.append({"role": "assistant", "content": "Noted."})
    await client.close()


def test_a_fake_told_not_to_record_keeps_no_requests() -> None:
    with FakeOpenAIServer() as fake:
        fake.record = False
        reply = httpx.post(f"{fake.base_url}/chat/completions", json={"model": "m", "messages": []})
        assert reply.status_code == 200
        assert fake.requests == []
