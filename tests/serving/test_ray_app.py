"""The real Ray Serve application on loopback: four deployments composed by handles, served over HTTP."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from teller.settings import get_settings
from tests.conftest import free_port


@pytest.fixture(scope="module")
def ray_url(tiny_bundle, small_kb, tmp_path_factory):
    import ray
    from ray import serve

    from serving.app import APP_NAME, build

    env = {
        "TELLER_RAG__KB_DIR": str(small_kb.path),
        "TELLER_SERVE__DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ray-audit') / 'teller.db'}",
        "TELLER_SERVE__AGENT_TOKEN": "ray-agent-token",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    get_settings.cache_clear()
    port = free_port()
    ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2, log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build(get_settings(), Path(tiny_bundle["bundle"])), name=APP_NAME, route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.mark.slow
def test_ray_serve_app_triages_chats_and_reports(ray_url, tiny_bundle):
    with httpx.Client(base_url=ray_url, timeout=60) as http:
        assert http.get("/readyz").json()["model_version"] == tiny_bundle["version"]
        narratives = ["The collector keeps calling about a debt I paid off."] * 12
        batch = http.post("/api/complaints", json=[{"narrative": n} for n in narratives])
        assert batch.status_code == 200 and len(batch.json()) == 12
        assert len({(d["team"], d["issue"]) for d in batch.json()}) == 1  # same text, same batched answer
        path = f"/api/complaints/{batch.json()[0]['complaint_id']}"
        assert http.get(path).status_code == 401
        stored = http.get(path, headers={"Authorization": "Bearer ray-agent-token"}).json()
        assert stored["decisions"][0]["model_version"] == tiny_bundle["version"]
        chat = http.post("/api/chat", json={"message": "How do I get my free credit report?", "session_id": "r1"})
        assert chat.status_code == 200 and chat.json()["session_id"] == "r1"
        assert http.post("/api/chat", json={"message": ""}).status_code == 422
        metrics = http.get("/metrics").text
        assert f'model_version="{tiny_bundle["version"]}",stage="classification"' in metrics
        assert "/api/complaints" in http.get("/openapi.json").json()["paths"]
        assert http.get("/api/models").json()[0]["role"] == "champion"  # the FastAPI lifespan ran on the replica
