"""The OpenAI-compatible API, driven by the official `openai` Python client.

Runs against a live tingwen server (the real binary, or the fake example:
`cargo run -p tingwen-server --example fake_server -- 127.0.0.1:8089`):

    TINGWEN_URL=http://127.0.0.1:8089 [TINGWEN_API_KEY=...] \
        .venv/bin/python -m pytest tests/python/test_openai_client.py -v

Needs `pip install openai pytest`. Skips when TINGWEN_URL is not set.
"""

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

BASE_URL = os.environ.get("TINGWEN_URL", "").rstrip("/")
API_KEY = os.environ.get("TINGWEN_API_KEY", "")
SOURCES_MARKER = "\n\n---\n**Sources**\n"

pytestmark = pytest.mark.skipif(not BASE_URL, reason="set TINGWEN_URL to a running tingwen server")


def _headers():
    return {"Authorization": f"Bearer {API_KEY}"} if API_KEY else {}


def _get_json(path):
    request = urllib.request.Request(BASE_URL + path, headers=_headers())
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def client():
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=BASE_URL + "/v1", api_key=API_KEY or "unused", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def collection(client):
    models = client.models.list()
    ids = [model.id for model in models.data]
    assert ids, "no models listed"
    return ids[0]


@pytest.fixture(scope="module")
def question():
    """A question about the first document: words from its longest line."""
    documents = _get_json("/api/documents")["documents"]
    assert documents, "the server holds no documents"
    return "What does the transcript say about " + documents[0]["title"] + "?"


def test_models_lists_the_collection(client, collection):
    models = client.models.list().data
    assert models[0].id == collection
    assert all(model.object == "model" for model in models)


def test_chat_completion_has_answer_and_citations(client, collection, question):
    completion = client.chat.completions.create(
        model=collection,
        messages=[{"role": "user", "content": question}],
        extra_body={"mode": "extractive"},
    )
    message = completion.choices[0].message
    assert message.role == "assistant"
    assert message.content
    citations = completion.model_extra.get("citations")
    assert isinstance(citations, list)
    if citations:
        assert SOURCES_MARKER in message.content
        first = citations[0]
        assert {"n", "doc_id", "title", "text", "start", "end"} <= set(first)
        assert "[1]" in message.content


def test_follow_up_uses_history(client, collection, question):
    first = client.chat.completions.create(
        model=collection,
        messages=[{"role": "user", "content": question}],
        extra_body={"mode": "extractive"},
    )
    follow_up = client.chat.completions.create(
        model=collection,
        messages=[
            {"role": "user", "content": question},
            {"role": "assistant", "content": first.choices[0].message.content},
            {"role": "user", "content": "Tell me more about that."},
        ],
        extra_body={"mode": "extractive"},
    )
    assert follow_up.choices[0].message.content


def test_streaming_chat_completion(client, collection, question):
    stream = client.chat.completions.create(
        model=collection,
        messages=[{"role": "user", "content": question}],
        stream=True,
        extra_body={"mode": "extractive"},
    )
    pieces, finish, citations = [], None, None
    for chunk in stream:
        choice = chunk.choices[0]
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
            citations = (chunk.model_extra or {}).get("citations")
    text = "".join(pieces)
    assert text
    assert finish == "stop"
    assert isinstance(citations, list)
    if citations:
        assert SOURCES_MARKER in text


def test_embeddings_float_and_default_base64(client, collection):
    models = [model.id for model in client.models.list().data]
    embedding_model = models[-1]
    # The client asks for base64 by default and decodes it.
    response = client.embeddings.create(model=embedding_model, input=["你好，世界", "hello world"])
    assert len(response.data) == 2
    dim = len(response.data[0].embedding)
    assert dim > 0 and len(response.data[1].embedding) == dim
    norm = sum(x * x for x in response.data[0].embedding) ** 0.5
    assert abs(norm - 1.0) < 1e-3
    floats = client.embeddings.create(model=embedding_model, input="hello", encoding_format="float")
    assert len(floats.data[0].embedding) == dim


def test_errors_use_the_openai_shape(client, collection):
    import openai

    with pytest.raises(openai.NotFoundError) as unknown_model:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert unknown_model.value.body["code"] == "model_not_found"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=collection, messages=[])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=collection, messages=[{"role": "user", "content": "   "}])


def test_wrong_key_is_rejected():
    if not API_KEY:
        pytest.skip("server runs without an API key")
    import openai

    bad = openai.OpenAI(base_url=BASE_URL + "/v1", api_key="wrong-" + API_KEY, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


def test_curl_streams_sse_with_done_last(collection, question):
    """`curl -N` sees chunk events as they come and `[DONE]` last."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    body = json.dumps({
        "model": collection,
        "stream": True,
        "mode": "extractive",
        "messages": [{"role": "user", "content": question}],
    })
    command = ["curl", "-sS", "-N", "--max-time", "300", "-H", "Content-Type: application/json",
               "-d", body, BASE_URL + "/v1/chat/completions"]
    if API_KEY:
        command[1:1] = ["-H", f"Authorization: Bearer {API_KEY}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=320).stdout
    datas = [line[len("data: "):] for line in output.splitlines() if line.startswith("data: ")]
    assert datas[-1] == "[DONE]"
    chunks = [json.loads(data) for data in datas[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_curl_streams_native_ask_events(question):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    body = json.dumps({"question": question, "stream": True, "mode": "extractive"})
    command = ["curl", "-sS", "-N", "--max-time", "300", "-d", body, BASE_URL + "/api/ask"]
    if API_KEY:
        command[1:1] = ["-H", f"Authorization: Bearer {API_KEY}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=320).stdout
    names = [line[len("event: "):] for line in output.splitlines() if line.startswith("event: ")]
    assert names[0] == "sources"
    assert names[-1] == "done"


def test_malformed_native_requests_get_json_errors():
    cases = [
        ("/api/search", b"{not json"),
        ("/api/search", b'{"query": "x", "k": 0}'),
        ("/api/ask", b'{"question": ""}'),
        ("/api/ask", json.dumps({"question": "x" * (2 * 1024 * 1024)}).encode()),
    ]
    for path, body in cases:
        request = urllib.request.Request(BASE_URL + path, data=body, headers=_headers(), method="POST")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=60)
        assert 400 <= error.value.code < 500, (path, error.value.code)
        payload = json.loads(error.value.read() or b"{}")
        assert "error" in payload and "message" in payload["error"], payload
    # Still serving.
    assert _get_json("/api/documents")["count"] >= 1
