"""Ray Serve application: masking, classification (dynamically batched) and answering deployments behind a
FastAPI gateway deployment, composed with DeploymentHandles. Each deployment wraps one plain class.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import Counter
from pathlib import Path

from ray import serve
from ray.serve.handle import DeploymentHandle, DeploymentResponse

from serving.runtime import Attribution, Decision, Intent, occlusion
from teller.errors import TellerError
from teller.settings import ServeSettings, TellerSettings, get_settings

APP_NAME = "teller"
_STAGES = ("MaskerDeployment", "ClassifierDeployment", "AnswerDeployment")


@serve.deployment
class MaskerDeployment:
    """Presidio masking of raw text; nothing unmasked goes past this deployment."""

    def __init__(self) -> None:
        from teller.masking import Masker

        self.masker = Masker()
        self.mask(["Warm-up: my name is Ada Lovelace, call 212-555-0100."])  # first call loads spaCy lazily

    def mask(self, texts: list[str]) -> list[str]:
        return [m.text for m in self.masker.mask_many(texts)]


@serve.deployment
class ClassifierDeployment:
    """The bundle's ONNX model; concurrent requests are batched into one run (`@serve.batch`)."""

    def __init__(self, bundle: str, max_batch_size: int, batch_wait_timeout_s: float, gpu: bool) -> None:
        from serving.runtime import Classifier
        from teller.bundle import load_bundle

        self.classifier = Classifier(load_bundle(Path(bundle)), gpu=gpu, spin=get_settings().serve.spin_threads)
        self.runs: Counter[tuple[str, int]] = Counter()
        # A graph that runs one text at a time waits for no batch to fill: it takes the requests already queued, as
        # many as it runs side by side (`BundleClassifier.workers`), so none waits for more than one run.
        runtime = self.classifier.runtime
        self.batches = not runtime.one_per_run
        for method in (self._triage_one, self._intent_one):
            method.set_max_batch_size(max_batch_size if self.batches else runtime.workers)
            method.set_batch_wait_timeout_s(batch_wait_timeout_s if self.batches else 0.0)
        self.classifier.triage(["Warm-up: a late fee on my card."])

    @serve.batch
    async def _triage_one(self, texts: list[str]) -> list[Decision]:
        self.runs["triage", len(texts)] += 1
        return self.classifier.triage(texts)

    @serve.batch
    async def _intent_one(self, texts: list[str]) -> list[Intent]:
        self.runs["intents", len(texts)] += 1
        return self.classifier.intents(texts)

    def shares_runs(self) -> bool:
        """Whether simultaneous requests are batched into one model run (not for a one-text-per-run graph)."""
        return self.batches

    def batch_sizes(self) -> dict[str, dict[int, int]]:
        """Model runs per batch size and task on this replica: whether requests really share runs."""
        sizes: dict[str, dict[int, int]] = {}
        for (task, size), runs in sorted(self.runs.items()):
            sizes.setdefault(task, {})[size] = runs
        return sizes

    async def triage(self, texts: list[str]) -> list[Decision]:
        return list(await asyncio.gather(*(self._triage_one(t) for t in texts)))

    async def intents(self, texts: list[str]) -> list[Intent]:
        return list(await asyncio.gather(*(self._intent_one(t) for t in texts)))

    def explain(self, text: str, head: str) -> Attribution:
        return occlusion(self.classifier, text, head)


@serve.deployment
class AnswerDeployment:
    """The KB answer chain (retriever → extractive or generative answerer)."""

    def __init__(self) -> None:
        from rag.chain import Answerer

        self.answerer = Answerer()
        self.answerer.answer("How do I get my credit report?")  # warm-up

    def answer(self, question: str, topic: str | None):
        return self.answerer.answer(question, topic)


class RayBackends:
    """`Backends` over deployment handles: the gateway's view of the other deployments."""

    def __init__(self, masker: DeploymentHandle, classifier: DeploymentHandle, answerer: DeploymentHandle) -> None:
        from teller.bundle import load_bundle

        self._masker, self._classifier, self._answerer = masker, classifier, answerer
        info = load_bundle(get_settings().serve.bundle).info
        self.model_name, self.model_version = info.name, info.version

    async def mask(self, texts: list[str]) -> list[str]:
        return await _result(self._masker.mask.remote(texts))

    async def triage(self, texts: list[str]) -> list[Decision]:
        return await _result(self._classifier.triage.remote(texts))

    async def intents(self, texts: list[str]) -> list[Intent]:
        return await _result(self._classifier.intents.remote(texts))

    async def answer(self, question: str, topic: str | None):
        return await _result(self._answerer.answer.remote(question, topic))

    async def explain(self, text: str, head: str) -> Attribution:
        return await _result(self._classifier.explain.remote(text, head))


async def _result(response: DeploymentResponse):
    """Await a handle call; when the caller stops waiting (the service's stage timeout), cancel it on the replica."""
    try:
        return await response
    except asyncio.CancelledError:
        response.cancel()
        raise


def _gateway_app():
    """Built on the gateway replica: the FastAPI app over handles to the other deployments."""
    from serving.gateway import create_app
    from teller.store import Store

    settings = get_settings()
    handles = [serve.get_deployment_handle(name, app_name=APP_NAME) for name in _STAGES]
    backends, store = RayBackends(*handles), Store(settings.database_url)
    return create_app(backends, store, settings.serve, settings.rag.memory_turns, warm_up=True)


@serve.deployment
@serve.ingress(_gateway_app)
class Gateway:
    """HTTP ingress; holds the stage handles so they deploy with it."""

    def __init__(self, *stages: DeploymentHandle) -> None:
        self.stages = stages


def build(settings: TellerSettings, bundle: Path):
    """The bound application: replicas, autoscaling and GPUs from settings; every replica sees the same env."""
    env = {k: v for k, v in os.environ.items() if k.startswith(("TELLER_", "MLFLOW_"))}
    env["TELLER_SERVE__BUNDLE"] = str(bundle)
    env["TELLER_DATA_DIR"] = str(settings.data_dir)
    serve_settings = settings.serve

    def options(name: str, **actor) -> dict:
        cpus = serve_settings.cpus.get(name, 1.0)
        opts: dict = {"ray_actor_options": {"runtime_env": {"env_vars": env}, "num_cpus": cpus, **actor}}
        if name in serve_settings.autoscaling:
            opts["autoscaling_config"] = serve_settings.autoscaling[name]
        else:
            opts["num_replicas"] = serve_settings.replicas.get(name, 1)
        return opts

    gpus = serve_settings.classifier_gpus
    return Gateway.options(**options("gateway")).bind(
        MaskerDeployment.options(**options("masker")).bind(),
        ClassifierDeployment.options(**options("classifier", num_gpus=gpus)).bind(
            str(bundle), serve_settings.max_batch_size, serve_settings.batch_wait_timeout_s, gpus > 0
        ),
        AnswerDeployment.options(**options("answerer")).bind(),
    )


def app_builder(args: dict | None = None):
    """The application for a Ray Serve config file (KubeRay RayService `import_path: serving.app:app_builder`).

    Ray Serve passes the config's `args`; Teller takes its settings from the environment instead.
    """
    from serving.runtime import resolve_bundle

    return build(get_settings(), resolve_bundle().path)


def direct_ingress(settings: ServeSettings) -> bool:
    """Whether the gateway replica serves the port itself: where it is the only one (else the proxy balances)."""
    alone = "gateway" not in settings.autoscaling and settings.replicas.get("gateway", 1) == 1
    return settings.direct_ingress and alone


def check_port_free(host: str, port: int) -> None:
    """Refuse to start where something already listens on the port, before Ray starts a process."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: only a listener conflicts
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise TellerError(
                f"cannot listen on {host}:{port} ({exc.strerror})",
                "teller serve",
                "stop the server already listening there, or pass another --port",
            ) from None


def start_ray(settings: TellerSettings, host: str, port: int, num_cpus: int | None = None) -> None:
    """Local Ray on loopback, with Ray Serve's own switches from settings; the app is served on host:port.

    With direct ingress the gateway replica listens on the port and Serve's proxy moves to a free one: each request
    skips the proxy's hop (about 10 ms of a 40 ms complaint on 2 cores).
    """
    import ray

    direct = direct_ingress(settings.serve)
    proxy_port = port
    # Read by every process local Ray starts, so set before it starts them.
    os.environ["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1" if settings.serve.ray_throughput_optimized else "0"
    os.environ["RAY_SERVE_ENABLE_DIRECT_INGRESS"] = "1" if direct else "0"
    if direct:  # the ingress port range [min, max) holds this port alone
        os.environ["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] = str(port)
        os.environ["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] = str(port + 1)
        with socket.socket() as spare:
            spare.bind((host, 0))
            proxy_port = spare.getsockname()[1]
    ray.init(
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        ignore_reinit_error=True,
        log_to_driver=False,
        num_cpus=num_cpus,
    )
    serve.start(http_options={"host": host, "port": proxy_port})
    if direct:  # Serve's own "ready at" line would name the proxy's spare port
        logging.getLogger("ray.serve").setLevel(logging.WARNING)


def run(host: str | None = None, port: int | None = None, blocking: bool = False) -> tuple[str, str]:
    """Start local Ray on loopback and deploy the app; returns its URL and the agent token (made here if unset)."""
    import secrets

    from serving.runtime import resolve_bundle

    if not get_settings().serve.agent_token:  # one token for every replica, passed on through the environment
        os.environ["TELLER_SERVE__AGENT_TOKEN"] = secrets.token_urlsafe(18)
        get_settings.cache_clear()
    settings = get_settings()
    bundle = resolve_bundle().path
    host, port = host or settings.serve.host, port or settings.serve.port
    check_port_free(host, port)
    start_ray(settings, host, port)
    serve.run(build(settings, bundle), name=APP_NAME, route_prefix="/", blocking=blocking)
    return f"http://{host}:{port}", settings.serve.agent_token.get_secret_value()
