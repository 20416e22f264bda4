"""The generative answerer: a local GGUF model and an OpenAI-compatible endpoint, with grounded fallbacks."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rag.chain import Answerer, make_client
from rag.llm import LocalGGUF, OpenAIChat
from teller.settings import get_settings

QUESTION = "How can I stop getting credit card offers in the mail?"


class FakeOpenAI:
    """An OpenAI-compatible chat endpoint on loopback that records requests and replies as told."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.reply: str | None = "ok"
        self.status = 200
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                payload = {"choices": [{"index": 0, "message": {"role": "assistant", "content": fake.reply}}]}
                data = json.dumps(payload if fake.status == 200 else {"error": "boom"}).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"


@pytest.fixture(scope="module")
def fake_openai():
    fake = FakeOpenAI()
    yield fake
    fake.server.shutdown()


@pytest.fixture(scope="module")
def openai_answerer(small_kb, fake_openai):
    return Answerer(small_kb, get_settings().rag, client=OpenAIChat(fake_openai.url, "tiny", api_key="sk-test"))


def test_supported_generated_answer_is_kept_with_its_citations(openai_answerer, fake_openai, small_kb):
    extractive = Answerer(small_kb, get_settings().rag).answer(QUESTION)
    fake_openai.reply = f"{extractive.text} [2]"
    answer = openai_answerer.answer(QUESTION)
    assert answer.answerer == "openai" and answer.reason is None
    assert answer.text == fake_openai.reply
    assert [c.id for c in answer.citations] == [extractive.citations[1].id]  # only the cited passage
    sent = fake_openai.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-test"
    assert sent["body"]["model"] == "tiny" and sent["body"]["temperature"] == 0
    user = sent["body"]["messages"][-1]["content"]
    assert "[1]" in user and QUESTION in user and extractive.citations[0].title in user


def test_unsupported_generated_answer_falls_back_to_the_extractive_one(openai_answerer, fake_openai):
    fake_openai.reply = "Buy gold bullion from our partner and the offers disappear forever."
    answer = openai_answerer.answer(QUESTION)
    assert answer.answerer == "extractive" and answer.reason == "generated_answer_unsupported"
    assert answer.text and "gold" not in answer.text and answer.citations


def test_endpoint_failure_falls_back_without_error(openai_answerer, fake_openai):
    fake_openai.status = 500
    try:
        answer = openai_answerer.answer(QUESTION)
    finally:
        fake_openai.status = 200
    assert answer.reason == "generator_unavailable" and answer.text and not answer.handoff


def test_out_of_scope_questions_never_reach_the_model(openai_answerer, fake_openai):
    before = len(fake_openai.requests)
    assert openai_answerer.answer("what's a good recipe for lasagna").handoff
    assert len(fake_openai.requests) == before


def test_settings_pick_the_openai_client(fake_openai):
    settings = get_settings().rag.model_copy(update={"answerer": "openai", "openai_url": fake_openai.url})
    assert isinstance(make_client(settings), OpenAIChat)


@pytest.mark.slow
def test_local_gguf_model_answers_or_falls_back(small_kb):
    client = LocalGGUF(threads=1)
    assert client.complete([{"role": "user", "content": "Say hello."}], max_tokens=8).strip()
    answerer = Answerer(small_kb, get_settings().rag.model_copy(update={"llm_max_tokens": 24}), client=client)
    answer = answerer.answer(QUESTION)
    assert not answer.handoff and answer.text and answer.citations
    if answer.answerer == "local":
        assert answer.reason is None
    else:  # the tiny model wandered from the passages: the grounded extractive answer stands in
        assert answer.answerer == "extractive" and answer.reason == "generated_answer_unsupported"
