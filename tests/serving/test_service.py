"""One service behind every protocol: the same decision and one audit row per request, clean errors when a
payload is malformed or a stage fails (typed errors mapped to status codes in one place)."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from kserve.model import InferenceVerb
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from serving.errors import Unauthorized
from teller.store import Allocation, Complaint
from tests.serving.conftest import AGENT_TOKEN
from tests.serving.test_gateway import JSON, NARRATIVE, PII, count

NAME = "teller-triage"
HEADS = ("team", "issue", "vulnerable", "queue")


@pytest.fixture(scope="module")
def kserve_model(backends, store, serve_settings):
    """The standalone KServe predictor, in process, over the same stages and store as the gateway."""
    from serving.kserve_server import TellerTriageModel
    from serving.service import TellerService

    model = TellerTriageModel(NAME, service=TellerService(backends, store, serve_settings))
    assert model.load() and model.ready
    return model


def newest(store) -> tuple[Complaint, list[Allocation]]:
    with store.session() as s:
        row = s.scalars(select(Complaint).order_by(Complaint.created_at.desc()).limit(1)).one()
        return row, list(row.allocations)


def v2_request(request_id: str) -> InferRequest:
    return InferRequest(NAME, [InferInput("narrative", [1], "BYTES", data=[NARRATIVE])], request_id=request_id)


def test_every_protocol_gives_the_same_decision_and_one_audit_row(client, store, kserve_model, tiny_bundle):
    def api() -> dict:
        return client.post("/api/complaints", json={"narrative": NARRATIVE}).json()

    def v1() -> dict:
        return client.post(f"/v1/models/{NAME}:predict", json={"instances": [NARRATIVE]}).json()["predictions"][0]

    def v2() -> dict:
        body, _ = v2_request("g-2").to_rest()
        reply = InferResponse.from_rest(client.post(f"/v2/models/{NAME}/infer", json=body).json())
        return {h: reply.get_output_by_name(h).data[0] for h in HEADS}

    def sagemaker() -> dict:
        return client.post("/invocations", json={"narrative": NARRATIVE}).json()["predictions"][0]

    def kserve_v1() -> dict:
        response, _ = asyncio.run(kserve_model({"instances": [NARRATIVE]}, headers={}))
        return response["predictions"][0]

    def kserve_v2() -> dict:
        response, _ = asyncio.run(kserve_model(v2_request("k-2"), headers={}))
        assert response.id == "k-2" and response.model_version == tiny_bundle["version"]
        return {h: response.get_output_by_name(h).data[0] for h in HEADS}

    decisions, narratives = {}, set()
    for path in (api, v1, v2, sagemaker, kserve_v1, kserve_v2):
        before = count(store)
        made = path()
        decisions[path.__name__] = tuple(made[h] for h in HEADS)
        assert count(store) == (before[0] + 1, before[1] + 1), path.__name__
        row, (allocation,) = newest(store)
        assert (allocation.model_name, allocation.model_version) == (NAME, tiny_bundle["version"])
        assert (allocation.team, allocation.issue, allocation.vulnerable, row.queue) == decisions[path.__name__]
        narratives.add(row.narrative)
    assert len(set(decisions.values())) == 1, decisions
    (stored,) = narratives
    assert PII["name"] not in stored and "<PERSON>" in stored


def test_the_kserve_model_checks_payloads_like_the_gateway(kserve_model, store):
    from serving.errors import InvalidInput

    before = count(store)
    with pytest.raises(InvalidInput, match="no narrative text"):
        asyncio.run(kserve_model({"instances": ["  "]}, headers={}))
    wrong = InferRequest(NAME, [InferInput("narrative", [1], "FP32", data=[1.0])])
    with pytest.raises(InvalidInput, match="BYTES"):
        asyncio.run(kserve_model(wrong, headers={}))
    assert count(store) == before


def test_the_kserve_model_explains_only_with_the_token(kserve_model, store):
    before = count(store)
    body = {"instances": ["The collector keeps calling about a debt I paid."]}
    with pytest.raises(Unauthorized):
        asyncio.run(kserve_model(body, headers={}, verb=InferenceVerb.EXPLAIN))
    headers = {"authorization": f"Bearer {AGENT_TOKEN}"}
    response, _ = asyncio.run(kserve_model(body, headers=headers, verb=InferenceVerb.EXPLAIN))
    assert response["explanations"][0]["method"] == "occlusion"
    assert count(store) == before


@pytest.mark.parametrize("depth", [12, 100_000])
@pytest.mark.parametrize("path", ["/invocations", f"/v1/models/{NAME}:predict", f"/v2/models/{NAME}/infer"])
def test_deeply_nested_json_is_a_clean_400(client, store, path, depth):
    before = count(store)
    body = '{"instances": ' + "[" * depth + '"x"' + "]" * depth + "}"
    response = client.post(path, content=body, headers=JSON)
    assert response.status_code == 400, response.text
    assert "Traceback" not in response.text
    assert count(store) == before


@pytest.mark.parametrize(
    ("content", "content_type", "status", "message"),
    [
        (b"[" * 50_000 + b"]" * 50_000, "application/json", 400, "nested"),
        (b'["caf\xe9 \xff"]', "application/json", 400, "UTF-8"),
        (b'{"instances": [', "application/json", 400, "not valid JSON"),
        (b'"' + b"a" * 60_000 + b'"', "text/csv", 413, "limit"),
        (b'{"instances": [[["x"]]]}', "application/json", 422, "no narrative text"),
        (b'{"instances": 42}', "application/json", 422, "instances"),
        (b"42", "application/json", 422, "instances"),
        (b"x", "application/pdf", 422, "content type"),
    ],
)
def test_undecodable_or_odd_sagemaker_payloads_are_clean_4xx(client, store, content, content_type, status, message):
    before = count(store)
    response = client.post("/invocations", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    body = response.json()
    assert message in body["detail"] and body["fix"] and "Traceback" not in response.text
    assert count(store) == before


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), OperationalError("INSERT", {}, Exception("locked"))])
def test_a_failing_store_fails_the_request_and_returns_no_decision(client, store, monkeypatch, failure):
    def broken(*_):
        raise failure

    monkeypatch.setattr(store, "record_decisions", broken)
    before = count(store)
    for path, body in (
        ("/api/complaints", {"narrative": NARRATIVE}),
        (f"/v1/models/{NAME}:predict", {"instances": [NARRATIVE]}),
        ("/invocations", [NARRATIVE]),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 503 and response.headers["retry-after"], path
        answer = response.json()
        assert answer["where"] == "audit store" and "could not record the decisions" in answer["detail"]
        assert not {"complaint_id", "team", "predictions"} & set(answer)
        assert "Traceback" not in response.text and "sqlite" not in response.text
    assert count(store) == before


def test_a_failing_classifier_is_a_503_with_retry_after(client, store, backends, monkeypatch):
    async def broken(texts):
        raise RuntimeError("replica died")

    monkeypatch.setattr(backends, "triage", broken)
    monkeypatch.setattr(backends, "intents", broken)
    before = count(store)
    body, _ = v2_request("f-1").to_rest()
    for path, payload in (
        ("/api/complaints", {"narrative": NARRATIVE}),
        (f"/v1/models/{NAME}:predict", {"instances": [NARRATIVE]}),
        (f"/v2/models/{NAME}/infer", body),
        ("/invocations", [NARRATIVE]),
        ("/api/chat", {"message": "How do I dispute a charge?"}),
    ):
        response = client.post(path, json=payload)
        assert response.status_code == 503, (path, response.text)
        assert response.headers["retry-after"] == "5" and response.json()["where"] == "classifier stage"
    assert count(store) == before


def test_a_stalled_classifier_times_out_as_a_503(backends, store, serve_settings, monkeypatch):
    from serving.gateway import create_app

    async def stalled(texts):
        await asyncio.sleep(30)

    monkeypatch.setattr(backends, "triage", stalled)
    app = create_app(backends, store, serve_settings.model_copy(update={"backend_timeout_s": 0.2}))
    before = count(store)
    with TestClient(app) as fast:
        response = fast.post("/api/complaints", json={"narrative": "A late fee on my card."})
    assert response.status_code == 503 and "within 0.2 s" in response.json()["detail"]
    assert count(store) == before


def test_product_and_channel_are_checked_and_masked(client, store):
    made = client.post(
        "/api/complaints",
        json={"narrative": NARRATIVE, "product": "Credit card, call 415-555-0199", "channel": "  web  "},
    )
    assert made.status_code == 200, made.text
    view = client.get(f"/api/complaints/{made.json()['complaint_id']}").json()
    assert "555-0199" not in view["product"] and "<PHONE_NUMBER>" in view["product"]
    assert view["channel"] == "web"
    before = count(store)
    for field, value in (("product", "<script>alert(1)</script>"), ("channel", "web\x00"), ("product", "x" * 201)):
        refused = client.post("/api/complaints", json={"narrative": NARRATIVE, field: value})
        assert refused.status_code == 422 and field in refused.text
    assert count(store) == before


def test_an_unexpected_error_is_a_500_without_a_trace(backends, store, serve_settings, monkeypatch):
    from serving.gateway import create_app
    from serving.service import TellerService

    def broken(self):
        raise KeyError("teams")

    monkeypatch.setattr(TellerService, "taxonomy", broken)
    with TestClient(create_app(backends, store, serve_settings), raise_server_exceptions=False) as plain:
        response = plain.get("/api/taxonomy")
    assert response.status_code == 500 and response.json()["where"] == "/api/taxonomy"
    assert "Traceback" not in response.text


def test_one_chat_session_hit_twice_at_once_keeps_both_turns_masked(backends, store, serve_settings):
    from serving.schemas import ChatRequest
    from serving.service import TellerService

    service = TellerService(backends, store, serve_settings)
    messages = ["My name is John Smith, how do I dispute a charge?", "How do I get my free credit report?"]

    async def both():
        return await asyncio.gather(*(service.chat(ChatRequest(message=m, session_id="s1")) for m in messages))

    replies = asyncio.run(both())
    assert [r.session_id for r in replies] == ["s1", "s1"] and "John Smith" not in replies[0].masked_message
    turns = service.sessions.get("s1").turns
    assert sorted(t.question for t in turns) == sorted(r.masked_message for r in replies)


class Counting:
    """The real stages, counting calls per stage (and failing one stage on request)."""

    def __init__(self, backends, fail: str | None = None) -> None:
        self.backends, self.fail, self.calls = backends, fail, []
        self.model_name, self.model_version = backends.model_name, backends.model_version

    def __getattr__(self, stage: str):
        async def call(*args):
            self.calls.append(stage)
            if stage == self.fail:
                raise RuntimeError(f"{stage} down")
            return await getattr(self.backends, stage)(*args)

        return call


@pytest.mark.parametrize("warm_up", [True, False])
def test_with_warm_up_startup_sends_one_text_through_every_stage_and_stores_nothing(backends, store, warm_up):
    from serving.gateway import create_app
    from teller.settings import ServeSettings

    counting, before = Counting(backends), count(store)
    with TestClient(create_app(counting, store, ServeSettings(), warm_up=warm_up)) as started:
        assert started.get("/readyz").status_code == 200
    assert counting.calls == (["mask", "triage", "intents", "answer"] if warm_up else [])
    assert count(store) == before


def test_a_stage_failing_its_warm_up_is_logged_and_the_server_still_starts(backends, store, monkeypatch):
    import serving.service
    from serving.gateway import create_app
    from teller.settings import ServeSettings

    warnings = []  # the module's logger, recorded: other tests and libraries reconfigure logging process-wide
    monkeypatch.setattr(serving.service.log, "warning", lambda message, *args: warnings.append(message % args))
    counting = Counting(backends, fail="triage")
    with TestClient(create_app(counting, store, ServeSettings(), warm_up=True)) as started:
        assert started.get("/readyz").status_code == 200
    assert counting.calls == ["mask", "triage"]
    assert warnings == ["warm-up did not finish (RuntimeError: triage down)"]
