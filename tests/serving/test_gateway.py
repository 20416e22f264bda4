"""Every gateway endpoint, including bad input: clear 4xx errors and nothing written to the audit store."""

from __future__ import annotations

from pathlib import Path

import pytest

from teller.decision import SPECIALIST_QUEUE
from teller.store import Allocation, Complaint
from teller.taxonomy import load_taxonomy

PII = {"name": "Marguerite Okonkwo", "email": "m.okonkwo@example.org", "phone": "(415) 555-0199"}
JSON = {"Content-Type": "application/json"}
NARRATIVE = (
    f"My name is {PII['name']} and I am 81 years old. A debt collector keeps calling me at {PII['phone']} about "
    f"a credit card debt I already paid, and reported it to the credit bureaus. Email me at {PII['email']}."
)


def count(store) -> tuple[int, int]:
    with store.session() as s:
        return s.query(Complaint).count(), s.query(Allocation).count()


def test_complaint_is_triaged_and_stored_masked(client, store, tiny_bundle):
    response = client.post("/api/complaints", json={"narrative": NARRATIVE, "product": "Debt collection"})
    assert response.status_code == 200, response.text
    body = response.json()
    taxonomy = load_taxonomy()
    assert body["team"] in taxonomy.team_labels and body["issue"] in taxonomy.issue_labels
    assert body["queue"] == (SPECIALIST_QUEUE if body["vulnerable"] else body["team"])
    assert set(body["probabilities"]) == {"team", "issue", "vulnerable"}
    assert body["model_version"] == tiny_bundle["version"] and body["latency_ms"] > 0
    stored = client.get(f"/api/complaints/{body['complaint_id']}").json()
    assert stored["decisions"][0]["model_version"] == tiny_bundle["version"]
    for value in PII.values():
        assert value not in stored["narrative"]
    assert "<PERSON>" in stored["narrative"] and "<EMAIL_ADDRESS>" in stored["narrative"]
    raw = Path(store.engine.url.database).read_bytes()
    assert not any(v.encode() in raw for v in PII.values())


def test_batches_of_complaints_keep_their_order(client):
    narratives = [
        NARRATIVE,
        "My mortgage servicer lost my payment and charged a late fee.",
        "Wrong balance on my card.",
    ]
    response = client.post("/api/complaints", json=[{"narrative": n} for n in narratives])
    assert response.status_code == 200
    decisions = response.json()
    assert len(decisions) == 3 and len({d["complaint_id"] for d in decisions}) == 3
    single = client.post("/api/complaints", json={"narrative": narratives[1]}).json()
    assert single["team"] == decisions[1]["team"] and single["issue"] == decisions[1]["issue"]


def test_agent_console_lists_filters_and_records_feedback(client):
    made = client.post("/api/complaints", json={"narrative": NARRATIVE}).json()
    queue = client.get("/api/complaints", params={"queue": made["queue"]}).json()
    assert queue and all(c["queue"] == made["queue"] for c in queue)
    assert made["complaint_id"] in {c["complaint_id"] for c in queue}
    corrected = client.post(
        f"/api/complaints/{made['complaint_id']}/feedback", json={"agent_id": "agent-7", "vulnerable": True}
    )
    assert corrected.status_code == 201
    view = client.get(f"/api/complaints/{made['complaint_id']}").json()
    assert view["status"] == "corrected" and view["feedback"][0]["agent_id"] == "agent-7"
    assert made["complaint_id"] in {c["complaint_id"] for c in client.get("/api/complaints?status=corrected").json()}


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"json": {"narrative": ""}}, 422, "narrative"),
        ({"json": {"narrative": "   \n "}}, 422, "blank"),
        ({"json": {"narrative": "x" * 1_000_000}}, 413, "limit"),
        ({"json": {"narrative": 42}}, 422, "narrative"),
        ({"json": {"narrative": "ok", "priority": "high"}}, 422, "priority"),
        ({"json": []}, 422, "empty batch"),
        (
            {"content": b'{"narrative": "caf\xe9 \xff"}', "headers": JSON},
            400,
            "error parsing the body",
        ),
        ({"content": b"not json", "headers": JSON}, 422, "invalid"),
    ],
)
def test_bad_complaints_are_rejected_and_nothing_is_stored(client, store, kwargs, status, message):
    before = count(store)
    response = client.post("/api/complaints", **kwargs)
    assert response.status_code == status
    assert message in response.text and "Traceback" not in response.text
    assert count(store) == before


def test_feedback_errors(client):
    made = client.post("/api/complaints", json={"narrative": "My card was charged twice."}).json()
    assert client.post(f"/api/complaints/{made['complaint_id']}/feedback", json={"agent_id": "a"}).status_code == 422
    missing = client.post("/api/complaints/nope/feedback", json={"agent_id": "a", "team": "credit_reporting"})
    assert missing.status_code == 404 and "nope" in missing.text
    assert client.get("/api/complaints/nope").status_code == 404


def test_chat_answers_with_sources_or_hands_off_with_a_reason(client):
    response = client.post("/api/chat", json={"message": "How do I get a free copy of my credit report?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session_id"] and body["topic"] and 0 <= body["confidence"] <= 1
    if body["handoff"]:
        assert body["handoff_reason"] in {"out_of_scope", "handoff_topic", "low_confidence", "no_relevant_answer"}
        assert body["answer"] is None
    else:
        assert body["answer"] and body["sources"] and body["sources"][0]["url"]


def test_chat_masks_the_message_and_honours_requests_for_a_person(client):
    body = client.post(
        "/api/chat", json={"message": f"I'm {PII['name']}, I want to speak to a human please", "session_id": "s1"}
    ).json()
    assert body["handoff"] and body["handoff_reason"] == "asked_for_human"
    assert PII["name"] not in body["masked_message"] and body["session_id"] == "s1"


def test_chat_rejects_bad_messages(client):
    assert client.post("/api/chat", json={"message": ""}).status_code == 422
    assert client.post("/api/chat", json={"text": "hi"}).status_code == 422
    assert client.post("/api/chat", json={"message": "y" * 60_000}).status_code == 413


def test_health_readiness_and_metrics(client, tiny_bundle):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["model_version"] == tiny_bundle["version"]
    assert client.get("/api/models").json() == [
        {"role": "champion", "model_name": "teller-triage", "model_version": tiny_bundle["version"], "traffic": 100}
    ]
    client.post("/api/complaints", json={"narrative": "Late fee charged on my auto loan."})
    assert client.post("/api/chat", json={"message": ""}).status_code == 422
    text = client.get("/metrics").text
    assert 'teller_requests_total{route="/api/complaints",status="200"}' in text
    assert 'teller_requests_total{route="/api/chat",status="422"}' in text  # the status sent, per route
    for stage in ("masking", "classification", "audit_write"):
        assert f'model_version="{tiny_bundle["version"]}",stage="{stage}"' in text
    assert "teller_batch_size_bucket" in text


def test_openapi_spec_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/chat",
        "/api/complaints",
        "/api/complaints/{complaint_id}",
        "/api/complaints/{complaint_id}/feedback",
    ):
        assert path in paths


def test_feedback_rejects_unknown_labels(client):
    made = client.post("/api/complaints", json={"narrative": "My card was charged twice."}).json()
    bad = client.post(f"/api/complaints/{made['complaint_id']}/feedback", json={"agent_id": "a", "team": "pizza"})
    assert bad.status_code == 422 and "unknown team" in bad.text
    labels = client.get("/api/taxonomy").json()
    assert SPECIALIST_QUEUE in labels["queues"] and labels["issues"]


def test_feedback_export_round_trips_into_the_training_loader(client, store, tmp_path):
    from teller.feedback import export_feedback
    from training.data import LoadStats, iter_cfpb

    made = client.post("/api/complaints", json={"narrative": NARRATIVE}).json()
    taxonomy = load_taxonomy()
    team = next(t for t in taxonomy.team_labels if t != made["team"])
    issue = taxonomy.issue_labels[0]
    body = {"agent_id": "agent-9", "team": team, "issue": issue, "vulnerable": True}
    assert client.post(f"/api/complaints/{made['complaint_id']}/feedback", json=body).status_code == 201
    path = tmp_path / "corrections.csv"
    rows = export_feedback(store, path)
    examples = {e.raw["Complaint ID"]: e for e in iter_cfpb(path, taxonomy, LoadStats())}
    assert len(examples) == rows and made["complaint_id"] in examples
    example = examples[made["complaint_id"]]
    assert (example.team, example.issue, example.vulnerable) == (team, issue, 1)
    assert PII["name"] not in example.text and "<PERSON>" in example.text


def test_handoff_policy_leaves_unsure_intents_to_the_knowledge_base():
    from serving.runtime import Intent
    from serving.service import handoff_reason

    def intent(topic="card", confidence=0.9, handoff=False, human=False):
        return Intent(intent="x", topic=topic, confidence=confidence, handoff_topic=handoff, asks_for_human=human)

    assert handoff_reason(intent(human=True), 0.5) == "asked_for_human"
    assert handoff_reason(intent("out_of_scope", 0.9, handoff=True), 0.5) == "out_of_scope"
    assert handoff_reason(intent("security_fraud", 0.9, handoff=True), 0.5) == "handoff_topic"
    assert handoff_reason(intent("out_of_scope", 0.2, handoff=True), 0.5) is None  # the KB decides
    assert handoff_reason(intent("card", 0.2), 0.5) is None


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/complaints", None),
        ("get", "/api/complaints/any", None),
        ("post", "/api/complaints/any/feedback", {"agent_id": "a", "vulnerable": True}),
        ("post", "/api/explain", {"narrative": "My card was charged twice."}),
        ("get", "/api/dashboard", None),
        ("get", "/api/labels", None),
        ("post", "/v1/models/teller-triage:explain", {"instances": ["My card was charged twice."]}),
    ],
)
def test_agent_endpoints_need_the_token(client, store, method, path, body):
    before = count(store)
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong-token"}):
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code == 401 and "Authorization: Bearer" in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"
    assert count(store) == before


def test_agent_endpoints_are_off_without_a_configured_token(backends, store):
    from fastapi.testclient import TestClient

    from serving.gateway import create_app
    from teller.settings import ServeSettings

    app = create_app(backends, store, ServeSettings())
    with TestClient(app) as anonymous:
        refused = anonymous.get("/api/complaints", headers={"Authorization": "Bearer "})
        assert refused.status_code == 503 and "TELLER_SERVE__AGENT_TOKEN" in refused.json()["detail"]
        assert anonymous.get("/api/taxonomy").status_code == 200  # public routes stay open


def test_dashboard_counts_decisions_and_agreement(client, tiny_bundle):
    made = client.post("/api/complaints", json={"narrative": NARRATIVE}).json()
    agree = {"agent_id": "agent-1", "team": made["team"], "vulnerable": not made["vulnerable"]}
    assert client.post(f"/api/complaints/{made['complaint_id']}/feedback", json=agree).status_code == 201
    board = client.get("/api/dashboard", params={"limit": 50}).json()
    assert 1 <= board["decisions"] <= 50 and sum(board["confidence"]) == board["decisions"]
    assert sum(board["teams"].values()) == board["decisions"]
    (champion,) = [m for m in board["models"] if m["model_version"] == tiny_bundle["version"]]
    assert champion["role"] == "champion" and champion["traffic_percent"] == 100 and champion["observed_share"] == 1
    heads = {a["head"]: a for a in board["agreement"]}
    assert heads["team"]["agreed"] >= 1 and heads["team"]["reviewed"] >= heads["team"]["agreed"]
    assert heads["vulnerable"]["reviewed"] > heads["vulnerable"]["agreed"]  # this correction disagreed
    assert client.get("/api/dashboard", params={"limit": 0}).status_code == 422
