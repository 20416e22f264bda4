"""KServe v1/v2, SageMaker and explain on the gateway, and the standalone `kserve.Model` predictor."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from teller.store import Complaint
from tests.conftest import free_port
from tests.serving.test_gateway import NARRATIVE, PII

NARRATIVES = ["The collector keeps calling about a debt I paid.", "My mortgage payment was applied late."]


def stored(store) -> int:
    with store.session() as s:
        return s.query(Complaint).count()


def test_v1_predict_round_trip_and_errors(client, store, tiny_bundle):
    name = "teller-triage"
    assert client.get(f"/v1/models/{name}").json() == {"name": name, "ready": True}
    reply = client.post(f"/v1/models/{name}:predict", json={"instances": NARRATIVES})
    assert reply.status_code == 200
    predictions = reply.json()["predictions"]
    assert len(predictions) == 2 and all(p["model_version"] == tiny_bundle["version"] for p in predictions)
    before = stored(store)
    assert client.post("/v1/models/other:predict", json={"instances": NARRATIVES}).status_code == 404
    bad = client.post(f"/v1/models/{name}:predict", json={"inputs": NARRATIVES})
    assert bad.status_code == 422 and "instances" in bad.text
    assert stored(store) == before


def test_v2_infer_round_trips_through_kserve_types(client, tiny_bundle):
    name = "teller-triage"
    assert client.get(f"/v2/models/{name}/ready").json()["ready"] is True
    meta = client.get(f"/v2/models/{name}").json()
    assert meta["versions"] == [tiny_bundle["version"]] and meta["inputs"][0]["name"] == "narrative"
    request = InferRequest(name, [InferInput("narrative", [2], "BYTES", data=NARRATIVES)], request_id="r-1")
    body, _ = request.to_rest()
    reply = client.post(f"/v2/models/{name}/infer", json=body)
    assert reply.status_code == 200, reply.text
    response = InferResponse.from_rest(reply.json())
    assert response.id == "r-1" and response.model_version == tiny_bundle["version"]
    teams = response.get_output_by_name("team").data
    assert len(teams) == 2 and set(teams) <= set(client.get("/api/taxonomy").json()["teams"])
    wrong = client.post(
        f"/v2/models/{name}/infer", json={"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}
    )
    assert wrong.status_code == 422 and "narrative" in wrong.text


def test_sagemaker_ping_and_invocations(client):
    assert client.get("/ping").status_code == 200
    as_json = client.post("/invocations", json=NARRATIVES)
    assert as_json.status_code == 200 and len(as_json.json()["predictions"]) == 2
    csv_body = "narrative\n" + "\n".join(f'"{n}"' for n in NARRATIVES)
    as_csv = client.post("/invocations", content=csv_body, headers={"Content-Type": "text/csv"})
    assert [p["team"] for p in as_csv.json()["predictions"]] == [p["team"] for p in as_json.json()["predictions"]]
    odd = client.post("/invocations", content=b"x", headers={"Content-Type": "application/pdf"})
    assert odd.status_code == 422 and "content type" in odd.text


def test_explain_attributes_masked_words(client):
    reply = client.post("/api/explain", json={"narrative": NARRATIVE, "head": "team"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["method"] == "occlusion" and len(body["tokens"]) == len(body["weights"]) > 10
    assert PII["name"].split()[0] not in body["tokens"]
    assert client.post("/api/explain", json={"narrative": NARRATIVE, "head": "mood"}).status_code == 422
    v1 = client.post("/v1/models/teller-triage:explain", json={"instances": [NARRATIVE]})
    assert v1.status_code == 200 and v1.json()["explanations"][0]["label"]
    assert PII["name"].split()[0] not in v1.json()["explanations"][0]["tokens"]


def test_explanations_need_the_token_and_have_a_size_limit(client):
    path = "/v1/models/teller-triage:explain"
    refused = client.post(path, json={"instances": [NARRATIVES[0]]}, headers={"Authorization": ""})
    assert refused.status_code == 401 and "Authorization: Bearer" in refused.json()["detail"]
    too_long = client.post(path, json={"instances": ["word " * 20_000]})
    assert too_long.status_code == 413 and "limit" in too_long.json()["detail"]
    too_many = client.post(path, json={"instances": NARRATIVES * 5})
    assert too_many.status_code == 413 and "at most" in too_many.json()["detail"]
    assert client.post("/api/explain", json={"narrative": "x" * 60_000}).status_code == 413


@pytest.mark.slow
def test_kserve_model_server_serves_v1_and_v2(tiny_bundle, tmp_path):
    """The standalone predictor: same decisions, each stored in the audit store, explanations behind the token."""
    from teller.store import Store

    http_port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "serving.kserve_server", "--http_port", str(http_port)]
    command += ["--grpc_port", str(grpc_port), "--bundle", str(Path(tiny_bundle["bundle"]))]
    database = f"sqlite:///{tmp_path / 'audit.db'}"
    env = os.environ | {"TELLER_SERVE__DATABASE_URL": database, "TELLER_SERVE__AGENT_TOKEN": "kserve-token"}
    log = (tmp_path / "kserve.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{http_port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{url}/v2/models/teller-triage/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "kserve.log").read_text()[-2000:]
            time.sleep(0.5)
        v1 = httpx.post(f"{url}/v1/models/teller-triage:predict", json={"instances": NARRATIVES}, timeout=30)
        assert v1.status_code == 200 and len(v1.json()["predictions"]) == 2
        request, _ = InferRequest("teller-triage", [InferInput("narrative", [2], "BYTES", data=NARRATIVES)]).to_rest()
        v2 = httpx.post(f"{url}/v2/models/teller-triage/infer", json=request, timeout=30)
        assert v2.status_code == 200, v2.text
        response = InferResponse.from_rest(v2.json())
        assert response.get_output_by_name("team").data == [p["team"] for p in v1.json()["predictions"]]
        assert stored(Store(database, migrate=False)) == 4
        blank = httpx.post(f"{url}/v1/models/teller-triage:predict", json={"instances": [" "]}, timeout=30)
        assert blank.status_code == 422 and "no narrative text" in blank.json()["detail"]
        explain = f"{url}/v1/models/teller-triage:explain"
        refused = httpx.post(explain, json={"instances": NARRATIVES[:1]}, timeout=30)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        headers = {"Authorization": "Bearer kserve-token"}
        explained = httpx.post(explain, json={"instances": NARRATIVES[:1]}, headers=headers, timeout=60)
        assert explained.status_code == 200 and explained.json()["explanations"][0]["label"]
        assert stored(Store(database, migrate=False)) == 4
    finally:
        server.terminate()
        server.wait(timeout=30)
