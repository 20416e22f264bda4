"""Teller settings: local defaults, overridden by one YAML file and then by TELLER_* environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from teller.errors import TellerError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROMOTE_MARGIN = 0.005  # how much a challenger must beat the champion's score by (CLI, registry and pipelines)


class KBSource(BaseModel):
    """One knowledge-base source file and how to read it."""

    model_config = ConfigDict(extra="forbid")
    path: Path = Field(description="File to ingest (relative paths resolve against shared_data_dir).")
    format: Literal["auto", "ask_cfpb", "transcripts", "faq"] = Field("auto", description="Loader to use.")
    licence: str | None = Field(None, description="Licence shown with every citation from this source.")


class RagSettings(BaseModel):
    """Knowledge base and answering: where the index lives, how to retrieve, which answerer speaks."""

    model_config = ConfigDict(extra="forbid")
    kb_dir: Path | None = Field(None, description="KB index directory; defaults to <data_dir>/kb.")
    sources: list[KBSource] = Field(
        default_factory=lambda: [
            KBSource(path=Path("kb/ask_cfpb/ask_cfpb.jsonl"), format="ask_cfpb", licence="Public domain (CFPB)"),
            KBSource(
                path=Path("kb/twitter_customer_care/bank_conversations_dev_test.json"),
                format="transcripts",
                licence="Apache-2.0 (IBM); tweets under Twitter's terms",
            ),
            KBSource(path=Path("kb/bank_faqs/BankFAQs.csv"), format="faq", licence="MIT (repository)"),
        ],
        description="Sources `teller kb build` ingests when no files are named.",
    )
    retrieval: Literal["dense", "hybrid"] = Field("dense", description="Dense only, or BM25 + dense with RRF.")
    top_k: int = Field(3, ge=1, le=10, description="Entries cited per answer.")
    abstain_threshold: float | None = Field(
        None, ge=-1, le=1, description="Relevance below which Teller hands off; None = the KB's calibrated value."
    )
    answerer: Literal["extractive", "local", "openai"] = Field("extractive", description="Who writes the answer.")
    openai_url: str = Field("http://127.0.0.1:8080/v1", description="Base URL of an OpenAI-compatible endpoint.")
    openai_model: str = Field("default", description="Model name sent to the endpoint.")
    openai_api_key: SecretStr | None = Field(None, description="Bearer key for the endpoint, if it needs one.")
    local_model_path: Path | None = Field(None, description="GGUF file; defaults to the bundled SmolLM2-135M.")
    llm_threads: int = Field(2, ge=1, description="CPU threads for the local model.")
    llm_max_tokens: int = Field(160, ge=8, description="Longest generated answer, in tokens.")
    llm_timeout_s: float = Field(20.0, gt=0, description="Give up on the generator and answer extractively.")
    memory_turns: int = Field(4, ge=0, description="Turns of a chat session kept for follow-up questions.")


class ServeSettings(BaseModel):
    """The serving platform: where it listens, where decisions are stored, how Ray Serve scales it."""

    model_config = ConfigDict(extra="forbid")
    host: str = Field("127.0.0.1", description="Address the gateway binds.")
    port: int = Field(8000, ge=1, le=65535, description="Gateway port (SageMaker mode uses 8080).")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the audit store; default SQLite in data_dir.")
    bundle: Path | None = Field(None, description="Model bundle to serve; default: the registry champion, else newest.")
    max_batch_size: int = Field(16, ge=1, description="Most requests the classifier batches into one ONNX run.")
    batch_wait_timeout_s: float = Field(0.005, ge=0, description="How long a batch waits to fill.")
    replicas: dict[str, int] = Field(
        default_factory=lambda: {"masker": 1, "classifier": 1, "answerer": 1, "gateway": 1},
        description="Ray Serve replicas per deployment (ignored for one with autoscaling).",
    )
    cpus: dict[str, float] = Field(
        default_factory=lambda: {"masker": 0.5, "classifier": 0.5, "answerer": 0.5, "gateway": 0.25},
        description="Logical CPUs Ray reserves per replica (small so all four fit on a 2-core laptop).",
    )
    autoscaling: dict[str, dict] = Field(
        default_factory=dict, description="Ray Serve autoscaling_config per deployment, e.g. {classifier: {...}}."
    )
    classifier_gpus: float = Field(0.0, ge=0, description="GPUs per classifier replica (a GPU pool when > 0).")
    spin_threads: bool = Field(
        False,
        description="Let the classifier's ONNX Runtime threads spin between ops: about a third less batch-1 latency "
        "where the classifier has cores of its own; keep off where it shares them with masking and answers.",
    )
    ray_throughput_optimized: bool = Field(
        True,
        description="Start local Ray with Ray Serve's throughput-optimized data plane (RAY_SERVE_THROUGHPUT_OPTIMIZED: "
        "replica code on the replica's own event loop, gRPC between replicas): fewer hand-offs per request.",
    )
    direct_ingress: bool = Field(
        True,
        description="`teller serve`: the gateway replica itself listens on the port, so requests skip Ray Serve's "
        "HTTP proxy (one hop less each); needs one gateway replica without autoscaling, else the proxy balances them.",
    )
    max_text_chars: int = Field(
        50_000, ge=100, description="Longest narrative or message accepted (CFPB narratives reach ~32k)."
    )
    handoff_confidence: float = Field(
        0.5, ge=0, le=1, description="Intent confidence needed to hand off on topic alone."
    )
    backend_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for one model stage (masker, classifier, answerer) before a 503."
    )
    agent_token: SecretStr | None = Field(
        None, description="Bearer token for the agent console and dashboard API; `teller serve` makes one if unset."
    )
    web_dist: Path = Field(PROJECT_ROOT / "web" / "dist", description="The built web app, served at / when present.")
    role: Literal["champion", "canary"] = Field("champion", description="This server's model role in a rollout.")
    traffic_percent: int = Field(100, ge=0, le=100, description="Share of traffic the rollout sends to this server.")


class IntakeSettings(BaseModel):
    """Streaming complaint intake (`teller intake`): which stream, how much per poll, where metrics are served."""

    model_config = ConfigDict(extra="forbid")
    backend: Literal["redis", "kinesis", "kafka"] = Field("redis", description="Stream the consumer reads.")
    stream: str = Field(
        "teller:complaints", min_length=1, description="Stream (Redis key, Kinesis stream, Kafka topic) to read."
    )
    dead_letter_stream: str | None = Field(None, description="Where bad records go; default: <stream>.dlq.")
    group: str = Field("teller-intake", min_length=1, description="Consumer group (Redis, Kafka) sharing the records.")
    consumer: str | None = Field(None, description="This consumer's name in the group; default: <hostname>-<pid>.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis server holding the stream.")
    batch_size: int = Field(32, ge=1, le=500, description="Most records read, triaged and stored per poll.")
    block_ms: int = Field(2000, ge=0, le=60_000, description="How long a poll waits for new records.")
    claim_idle_ms: int = Field(
        60_000, ge=0, description="Claim a record another consumer received but has not acked for this long."
    )
    retry_backoff_s: float = Field(1.0, gt=0, le=300, description="First wait after a backend failure (doubles).")
    metrics_host: str = Field("127.0.0.1", description="Address the Prometheus metrics endpoint binds.")
    metrics_port: int = Field(9400, ge=0, le=65535, description="Port of the metrics endpoint (0: none).")
    kinesis_region: str | None = Field(None, description="AWS region of the Kinesis stream; default: AWS_REGION.")
    checkpoint_table: str = Field(
        "teller-intake-checkpoints", description="DynamoDB table of Kinesis checkpoints (key: stream, shard)."
    )
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka brokers (host:port, comma-separated).")
    kafka_config: dict[str, str] = Field(
        default_factory=dict,
        description="Extra librdkafka client settings, e.g. security.protocol, sasl.mechanism (secrets via env).",
    )


class StepResources(BaseModel):
    """What a pipeline step asks the cluster for."""

    model_config = ConfigDict(extra="forbid")
    cpu: str = Field("1", description="CPU request and limit, e.g. '2' or '500m'.")
    memory: str = Field("4G", description="Memory request and limit, e.g. '8G'.")


class PipelineSettings(BaseModel):
    """Kubeflow Pipelines: the image every step runs in, resources per step, where runs are submitted."""

    model_config = ConfigDict(extra="forbid")
    image: str = Field(
        "ghcr.io/teller-bank/teller-training:0.1.0", description="The training image every component runs in."
    )
    resources: dict[str, StepResources] = Field(
        default_factory=lambda: {
            "light": StepResources(cpu="1", memory="2G"),
            "prepare": StepResources(cpu="4", memory="8G"),
            "train": StepResources(cpu="8", memory="16G"),
            "package": StepResources(cpu="4", memory="8G"),
        },
        description="Resources per kind of step (light, prepare, train, package); the GPU count is a run parameter.",
    )
    gpu_resource: str = Field("nvidia.com/gpu", description="Accelerator resource name the train step requests.")
    local_root: Path | None = Field(None, description="Where local runs keep artifacts; default data_dir/pipelines.")
    namespace: str = Field("kubeflow", description="Kubernetes namespace of the KFP server.")
    experiment: str = Field("teller", description="KFP experiment runs are filed under.")


class TellerSettings(BaseSettings):
    """Where Teller keeps its data, models and registry."""

    model_config = SettingsConfigDict(env_prefix="TELLER_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(PROJECT_ROOT / "var", description="Working data: caches, splits, bundles, MLflow.")
    shared_data_dir: Path = Field(
        PROJECT_ROOT.parent / "shared" / "data",
        description="Read-only public datasets (CFPB, Banking77, ...).",
    )
    mlflow_tracking_uri: str | None = Field(
        None, description="MLflow store; defaults to MLFLOW_TRACKING_URI, else SQLite under data_dir."
    )
    registered_model: str = Field("teller-triage", description="Name of the model in the MLflow registry.")
    promote_margin: float = Field(
        PROMOTE_MARGIN, ge=0.0, description="How much a challenger must beat the champion's score by to be promoted."
    )

    rag: RagSettings = Field(default_factory=RagSettings, description="Knowledge base and chat answers.")
    serve: ServeSettings = Field(default_factory=ServeSettings, description="Serving platform and audit store.")
    pipelines: PipelineSettings = Field(default_factory=PipelineSettings, description="Kubeflow Pipelines.")
    intake: IntakeSettings = Field(default_factory=IntakeSettings, description="Streaming complaint intake.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def bundles_dir(self) -> Path:
        return self.data_dir / "bundles"

    @property
    def labels_dir(self) -> Path:
        """Where `teller labels` writes proposals and discovered clusters (the dashboard reads them)."""
        return self.data_dir / "reports" / "labels"

    @property
    def kb_dir(self) -> Path:
        return self.rag.kb_dir or self.data_dir / "kb"

    @property
    def database_url(self) -> str:
        return self.serve.database_url or f"sqlite:///{(self.data_dir / 'teller.db').resolve()}"

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI in force (explicit setting, env var, or local SQLite)."""
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by TELLER_CONFIG (or ./teller.yaml if present)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = Path(os.environ.get("TELLER_CONFIG", "teller.yaml"))
        if not path.exists():
            if "TELLER_CONFIG" in os.environ:
                raise TellerError("config file not found", str(path), "set TELLER_CONFIG to an existing YAML file")
            return {}
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise TellerError(f"not valid YAML ({exc})", str(path), "fix the syntax of the config file") from exc
        if not isinstance(data, dict):
            raise TellerError("expected a mapping of setting names to values", str(path))
        return data


@lru_cache
def get_settings() -> TellerSettings:
    """The process-wide settings (cached; tests clear the cache after changing the environment)."""
    return TellerSettings()
