"""The fake's other endpoints, through the real client, since other suites rely on them."""

import math

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
