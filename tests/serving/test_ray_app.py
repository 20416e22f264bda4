"""The real Ray Serve application on loopback: four deployments composed by handles, served over HTTP."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from teller.settings import get_settings
from tests.conftest import free_port

STAGE_TIMEOUT_S = 15
AGENT = {"Authorization": "Bearer ray-agent-token"}
NARRATIVES = [
    "The collector keeps calling about a debt I paid off.",
    "My credit report shows an account that is not mine and the bureau will not remove it.",
    "The bank charged me an overdraft fee twice for the same transaction.",
    "My mortgage servicer lost my payment and now says I am late.",
]


@pytest.fixture(scope="module")
def ray_url(tiny_bundle, small_kb, tmp_path_factory):
    import ray
    from ray import serve

    from serving.app import APP_NAME, build, start_ray

    env = {
        "TELLER_RAG__KB_DIR": str(small_kb.path),
        "TELLER_SERVE__DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('ray-audit') / 'teller.db'}",
        "TELLER_SERVE__AGENT_TOKEN": "ray-agent-token",
        "TELLER_SERVE__BACKEND_TIMEOUT_S": str(STAGE_TIMEOUT_S),
    }
    ray_flags = ["RAY_SERVE_THROUGHPUT_OPTIMIZED", "RAY_SERVE_ENABLE_DIRECT_INGRESS"]
    ray_flags += ["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT", "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"]
    saved = {k: os.environ.get(k) for k in [*env, *ray_flags]}
    os.environ.update(env)
    get_settings.cache_clear()
    port = free_port()
    try:
        start_ray(get_settings(), "127.0.0.1", port, num_cpus=2)
        serve.run(build(get_settings(), Path(tiny_bundle["bundle"])), name=APP_NAME, route_prefix="/")
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@pytest.mark.slow
def test_ray_processes_run_serves_throughput_optimized_data_plane(ray_url):
    import ray

    @ray.remote(num_cpus=0)
    def flag() -> str | None:
        return os.environ.get("RAY_SERVE_THROUGHPUT_OPTIMIZED")

    assert get_settings().serve.ray_throughput_optimized
    assert ray.get(flag.remote()) == "1"  # a worker local Ray started, as every replica is


@pytest.mark.slow
def test_the_gateway_replica_itself_listens_on_the_serving_port(ray_url):
    import psutil

    port = int(ray_url.rsplit(":", 1)[1])
    listening = [c for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN and c.laddr.port == port]
    assert len(listening) == 1
    assert "ServeReplica:teller:Gateway" in " ".join(psutil.Process(listening[0].pid).cmdline())  # not Serve's proxy


def test_direct_ingress_only_where_one_gateway_replica_takes_every_request():
    from serving.app import direct_ingress
    from teller.settings import ServeSettings

    assert direct_ingress(ServeSettings())
    assert not direct_ingress(ServeSettings(direct_ingress=False))
    assert not direct_ingress(ServeSettings(replicas={"gateway": 2}))
    assert not direct_ingress(ServeSettings(autoscaling={"gateway": {"min_replicas": 1, "max_replicas": 3}}))


def test_a_port_already_listened_on_is_refused_before_ray_starts():
    import socket

    from serving.app import check_port_free
    from teller.errors import TellerError

    port = free_port()
    check_port_free("127.0.0.1", port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with pytest.raises(TellerError, match=f"127.0.0.1:{port}") as refused:
            check_port_free("127.0.0.1", port)
    assert "--port" in refused.value.fix


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


@pytest.mark.slow
def test_simultaneous_requests_share_model_runs_where_the_graph_batches_and_one_chat_session_takes_both(ray_url):
    from ray import serve

    from serving.app import APP_NAME

    classifier = serve.get_deployment_handle("ClassifierDeployment", app_name=APP_NAME)
    before = classifier.batch_sizes.remote().result().get("triage", {})
    with httpx.Client(base_url=ray_url, timeout=60) as http, ThreadPoolExecutor(16) as pool:
        filed = list(pool.map(lambda i: http.post("/api/complaints", json={"narrative": NARRATIVES[i % 4]}), range(48)))
        chats = list(
            pool.map(lambda m: http.post("/api/chat", json={"message": m, "session_id": "twice"}), ["Hi", "Hello"])
        )
    assert [r.status_code for r in filed] == [200] * 48
    assert [(r.status_code, r.json()["session_id"]) for r in chats] == [(200, "twice")] * 2
    after = classifier.batch_sizes.remote().result()["triage"]
    runs = {size: after[size] - before.get(size, 0) for size in after if after[size] > before.get(size, 0)}
    assert sum(size * n for size, n in runs.items()) == 48  # every complaint went through exactly one run
    if classifier.shares_runs.remote().result():
        assert max(runs) > 1  # simultaneous requests shared runs
    else:  # a one-text-per-run graph takes the queued requests it runs side by side, one per core, and no more
        assert max(runs) <= (os.cpu_count() or 1)


@pytest.mark.slow
def test_a_killed_classifier_replica_is_replaced_and_no_acknowledged_complaint_is_lost(ray_url):
    """8 clients file complaints while the classifier replica is killed: each request is stored or a clean 503."""
    import ray
    from ray import serve

    from serving.app import APP_NAME
    from teller.store import Store

    def replicas() -> dict[str, str]:
        named = ray.util.list_named_actors(all_namespaces=True)
        return {a["name"]: a["namespace"] for a in named if "ClassifierDeployment" in a["name"]}

    ((victim, namespace),) = replicas().items()
    results: list[tuple[int, str | None, str | None, float]] = []
    stop = threading.Event()

    def client(i: int) -> None:
        with httpx.Client(base_url=ray_url, timeout=4 * STAGE_TIMEOUT_S) as http:
            n = 0
            while not stop.is_set():
                start = time.monotonic()
                r = http.post("/api/complaints", json={"narrative": f"{NARRATIVES[n % 4]} Reference {i}-{n}."})
                cid = r.json()["complaint_id"] if r.status_code == 200 else None
                results.append((r.status_code, cid, r.headers.get("retry-after"), time.monotonic() - start))
                n += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        killed_at = len(results)
        ray.kill(ray.get_actor(victim, namespace=namespace), no_restart=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:  # until a new replica serves and 20 more complaints are filed
            status = serve.status().applications[APP_NAME].deployments["ClassifierDeployment"].status
            recovered = sum(r[0] == 200 for r in results[killed_at:]) > 20
            if set(replicas()) - {victim} and status == "HEALTHY" and recovered:
                break
            time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    codes = [code for code, *_ in results]
    print(
        f"killed the classifier replica after {killed_at} requests; {len(results)} sent, "
        f"{codes.count(200)} stored, {codes.count(503)} refused with 503, slowest {max(r[3] for r in results):.1f} s"
    )
    assert set(codes) <= {200, 503}
    assert set(replicas()) - {victim}, "Ray Serve did not start a new classifier replica"
    assert sum(code == 200 for code in codes[killed_at:]) > 20, "the application did not recover"
    assert all(retry for code, _, retry, _ in results if code == 503)
    assert max(seconds for *_, seconds in results) < 3 * STAGE_TIMEOUT_S  # a failed request is answered, not hung
    store = Store(get_settings().database_url, migrate=False)
    acknowledged = [cid for code, cid, *_ in results if code == 200]
    lost = [cid for cid in acknowledged if store.complaint(cid) is None]
    assert not lost and len(acknowledged) == len(set(acknowledged))
