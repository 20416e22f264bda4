"""The `teller` command line: a thin shell over the package functions (imports are lazy and local)."""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from teller.errors import TellerError

app = typer.Typer(
    help="Teller: complaint triage and CSR chat models for a retail bank.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
registry_app = typer.Typer(help="The MLflow model registry: list versions, promote a challenger.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
kb_app = typer.Typer(help="The knowledge base for chat answers: build, ask, evaluate.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")
feedback_app = typer.Typer(help="Agents' corrections of triage decisions.", no_args_is_help=True)
app.add_typer(feedback_app, name="feedback")
pipeline_app = typer.Typer(help="Kubeflow Pipelines: compile, run here or on a server, schedule.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
rollout_app = typer.Typer(help="KServe canary rollouts of the Teller InferenceService.", no_args_is_help=True)
app.add_typer(rollout_app, name="rollout")
deploy_app = typer.Typer(help="Alternate serving backends.", no_args_is_help=True)
app.add_typer(deploy_app, name="deploy")

_QUIET = (
    "presidio-analyzer",
    "presidio_analyzer",
    "tldextract",
    "alembic",
    "mlflow",
    "urllib3",
    "httpx",
    "onnxruntime",
    "root",
)


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def command(func):
    """Run a command with user-facing errors: a TellerError prints what/where/fix, never a stack trace."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        _setup_logging()
        try:
            return func(*args, **kwargs)
        except TellerError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:
            if os.environ.get("TELLER_DEBUG"):
                raise
            typer.echo(f"error: unexpected {type(exc).__name__}: {exc}\n(set TELLER_DEBUG=1 for details)", err=True)
            raise typer.Exit(1) from None

    return wrapper


@app.command()
@command
def train(
    profile: Annotated[str, typer.Option(help="Training profile: quick (about 10 min on 2 CPUs) or full.")] = "quick",
    resume: Annotated[bool, typer.Option(help="Continue from the run's last checkpoint.")] = False,
    register: Annotated[bool, typer.Option(help="Log to MLflow and register as challenger.")] = True,
    epochs: Annotated[int | None, typer.Option(help="Override the profile's epochs.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Override the profile's tokens per text.")] = None,
    balance: Annotated[
        str | None, typer.Option(help="Override imbalance handling: class_weights|upsample|none.")
    ] = None,
    summary: Annotated[Path | None, typer.Option(help="Also write the run summary JSON here.")] = None,
) -> None:
    """Build the corpus, fine-tune, export ONNX (+int8), evaluate vs baselines, report and register."""
    from training.lifecycle import train_and_package
    from training.train import PROFILES, profile_config

    if profile not in PROFILES:
        raise TellerError(f"unknown profile {profile!r}", "--profile", f"use one of {sorted(PROFILES)}")
    overrides = {"epochs": epochs, "max_length": max_length, "balance": balance}
    config = profile_config(profile, **{k: v for k, v in overrides.items() if v is not None})
    result = train_and_package(config, resume=resume, register=register)
    _print_summary(result)
    if summary:
        from teller.io import write_json

        write_json(summary, result)


def _print_summary(result: dict) -> None:
    typer.echo(
        f"\nbundle {result['version']} ({result['profile']}, {result['minutes']} min, "
        f"serving variant {result['variant']}) -> {result['bundle']}"
    )
    heads = list(result["test"])
    names = ["model", *result["baselines"]]
    typer.echo(f"{'head':<11}{'metric':<10}" + "".join(f"{n:>22}" for n in names))
    for head in heads:
        for metric in ("accuracy", "macro_f1", *(("recall", "precision") if head == "vulnerable" else ())):
            values = [result["test"][head].get(metric)] + [
                b.get(head, {}).get(metric) for b in result["baselines"].values()
            ]
            typer.echo(
                f"{head:<11}{metric:<10}" + "".join(f"{v:>22.4f}" if v is not None else f"{'-':>22}" for v in values)
            )
    typer.echo(f"report: {result['report']}")
    for name, path in result["heldout"].items():
        typer.echo(f"held-out {name}: teller evaluate --data {path}")
    if result.get("registered_version"):
        typer.echo(f"registered version {result['registered_version']} as challenger")


@app.command()
@command
def baselines(
    corpus: Annotated[Path | None, typer.Option(help="Saved corpus dir (var/corpus/<hash>); default: newest.")] = None,
    max_length: Annotated[int, typer.Option(help="Tokens per text for the frozen-encoder baseline.")] = 192,
    target_recall: Annotated[float, typer.Option(help="Recall the vulnerable threshold aims for.")] = 0.65,
) -> None:
    """Train and score the TF-IDF and frozen-MiniLM baselines on a saved corpus's splits (JSON to stdout)."""
    from teller.settings import get_settings
    from teller.taxonomy import load_taxonomy
    from training.baselines import run_baselines
    from training.corpus import Corpus
    from training.evaluate import round_floats

    if corpus is None:
        saved = sorted((get_settings().data_dir / "corpus").glob("*/fingerprint.json"), key=lambda p: p.stat().st_mtime)
        if not saved:
            raise TellerError("no saved corpus", str(get_settings().data_dir / "corpus"), "run `teller train` first")
        corpus = saved[-1].parent
    data = Corpus.load(corpus)
    splits = (data.splits[s] for s in ("train", "val", "test"))
    result = run_baselines(["tfidf", "frozen"], *splits, load_taxonomy(), target_recall, max_length)
    summary = {
        name: {h: {k: v for k, v in m.items() if k != "per_class"} for h, m in heads.items()}
        for name, heads in result.items()
    }
    typer.echo(json.dumps({"corpus": data.fingerprint["sha256"][:12], "baselines": round_floats(summary)}))


@app.command()
@command
def evaluate(
    data: Annotated[Path, typer.Option(help="A CFPB export (.csv/.csv.gz/.zip) or a text,category CSV.")],
    bundle: Annotated[Path | None, typer.Option(help="Bundle dir; default: champion, else latest.")] = None,
    report: Annotated[Path | None, typer.Option(help="Also write a Markdown + PNG report here.")] = None,
) -> None:
    """Score a bundle on a labelled file and print one JSON object (progress goes to stderr)."""
    from training.evaluate import evaluate_file, round_floats
    from training.registry import resolve_bundle

    chosen = resolve_bundle(bundle)
    typer.echo(f"evaluating {chosen.info.name} {chosen.info.version} on {data}", err=True)
    summary, predictions = evaluate_file(data, chosen)
    if report:
        from training.report import write_report

        path = write_report(
            report, f"{chosen.info.name} {chosen.info.version} on {data.name}", summary["heads"], predictions
        )
        typer.echo(f"report: {path}", err=True)
    typer.echo(json.dumps(round_floats(summary)))


@app.command()
@command
def mask(text: Annotated[str, typer.Argument(help="Text to mask; '-' reads standard input.")]) -> None:
    """Mask PII in a text with the same function training and serving use."""
    from teller.masking import Masker

    source = sys.stdin.read() if text == "-" else text
    typer.echo(Masker().mask(source).text)


@app.command()
@command
def bench(
    data: Annotated[Path, typer.Option(help="Labelled file whose texts to time (e.g. the held-out CFPB split).")],
    bundle: Annotated[Path | None, typer.Option(help="Bundle dir; default: champion, else latest.")] = None,
    rows: Annotated[int, typer.Option(help="How many texts to time.")] = 512,
) -> None:
    """Print a latency/throughput table: masking, and the classifier per ONNX variant (this machine)."""
    from itertools import islice

    from teller.taxonomy import load_taxonomy
    from training.bench import bench_classifier, bench_masker, format_table
    from training.data import iter_labelled
    from training.evaluate import mask_examples
    from training.registry import resolve_bundle

    chosen = resolve_bundle(bundle)
    examples = list(islice(iter_labelled(data, load_taxonomy()), rows))
    raw = [e.text for e in examples]
    mask_examples(examples)
    table = [bench_masker(raw[:128]), *bench_classifier(chosen, [e.text for e in examples])]
    typer.echo(
        f"{chosen.info.name} {chosen.info.version}, {len(examples)} texts from {data}, "
        f"max_length {chosen.info.max_length}, {os.cpu_count()} CPUs"
    )
    typer.echo(format_table(table))


@registry_app.command("list")
@command
def registry_list() -> None:
    """List registered versions with their aliases and bundle versions."""
    from teller.settings import get_settings
    from training.registry import client

    c, name = client(), get_settings().registered_model
    versions = c.search_model_versions(f"name='{name}'")
    if not versions:
        typer.echo(f"no versions of {name} in {get_settings().tracking_uri}")
    for found in sorted(versions, key=lambda v: int(v.version)):
        v = c.get_model_version(name, found.version)
        aliases = ",".join(v.aliases) if v.aliases else "-"
        typer.echo(f"{name} v{v.version}  aliases={aliases}  bundle={v.tags.get('bundle_version', '?')}")


@registry_app.command()
@command
def promote(
    margin: Annotated[float | None, typer.Option(help="Score margin the challenger must win by.")] = None,
    version: Annotated[str | None, typer.Option(help="Version to consider (default: the challenger).")] = None,
) -> None:
    """Promote the challenger to champion only if it beats the champion on the same frozen test split."""
    from training.registry import promote as gate

    decision = gate(margin, version)
    verdict = "PROMOTED" if decision.promoted else "NOT PROMOTED"
    typer.echo(f"{verdict}: {decision.reason}")


@app.command()
@command
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
) -> None:
    """Serve chat and complaint triage with Ray Serve on local Ray until interrupted."""
    import signal
    import time

    from serving.app import run

    url, token = run(host, port)
    typer.echo(f"Teller is serving at {url} (API docs {url}/docs); Ctrl+C stops it")
    typer.echo(f"Agent console token: {token} (set TELLER_SERVE__AGENT_TOKEN to choose your own)")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a container's stop signal shuts down like Ctrl+C
    while True:
        time.sleep(3600)


@app.command()
@command
def openapi(
    out: Annotated[Path | None, typer.Option(help="File to write; default: print to stdout.")] = None,
) -> None:
    """Write the HTTP API's OpenAPI spec (the web client's types are generated from it)."""
    import json

    from serving.gateway import openapi_spec

    text = json.dumps(openapi_spec(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    typer.echo(f"OpenAPI spec -> {out}")


@feedback_app.command("export")
@command
def feedback_export(
    out: Annotated[Path, typer.Option(help="CSV to write (CFPB export format, readable by `teller train`).")],
) -> None:
    """Write agents' corrections as a CFPB-format CSV for retraining."""
    from teller.feedback import export_feedback
    from teller.settings import get_settings
    from teller.store import Store

    rows = export_feedback(Store(get_settings().database_url), out)
    typer.echo(f"{rows} corrected complaints -> {out}")


def _pipeline_arguments(params: list[str] | None) -> dict:
    """`--param key=value` pairs; values are read as JSON when they parse (numbers, lists, objects), else strings."""
    arguments = {}
    for item in params or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TellerError(f"bad --param {item!r}", "--param", "write key=value, e.g. --param profile=full")
        try:
            arguments[key] = json.loads(value)
        except json.JSONDecodeError:
            arguments[key] = value
    return arguments


ParamOption = Annotated[
    list[str] | None, typer.Option("--param", help="Pipeline parameter key=value (JSON values allowed); repeatable.")
]


@pipeline_app.command("compile")
@command
def pipeline_compile(
    name: Annotated[str, typer.Argument(help="train_eval, kb_index, sweep or retrain_from_feedback.")],
    output: Annotated[Path | None, typer.Option(help="IR YAML to write (default: NAME.yaml).")] = None,
) -> None:
    """Write a pipeline's IR YAML, ready to upload to a KFP server."""
    from pipelines.runner import compile_pipeline

    typer.echo(f"{name} -> {compile_pipeline(name, output or Path(f'{name}.yaml'))}")


@pipeline_app.command("run")
@command
def pipeline_run(
    name: Annotated[str, typer.Argument(help="train_eval, kb_index, sweep or retrain_from_feedback.")],
    local: Annotated[bool, typer.Option("--local", help="Run here with KFP's subprocess runner.")] = False,
    host: Annotated[str | None, typer.Option(help="KFP server URL to submit to.")] = None,
    param: ParamOption = None,
    namespace: Annotated[str | None, typer.Option(help="Kubernetes namespace (default from settings).")] = None,
    experiment: Annotated[str | None, typer.Option(help="KFP experiment (default from settings).")] = None,
    run_name: Annotated[str | None, typer.Option(help="Name of the run on the server.")] = None,
) -> None:
    """Run a pipeline locally (--local) or submit it to a KFP server (--host URL)."""
    from pipelines import runner

    if local == (host is not None):
        raise TellerError("choose where to run", "--local / --host", "give exactly one of --local or --host URL")
    arguments = _pipeline_arguments(param)
    if local:
        outputs = runner.run_local(name, arguments)
        typer.echo(json.dumps(outputs, default=str))
    else:
        run_id = runner.submit(name, host, arguments, run_name, namespace, experiment)
        typer.echo(f"submitted {name} to {host}: run {run_id}")


@pipeline_app.command("schedule")
@command
def pipeline_schedule(
    name: Annotated[str, typer.Argument(help="Usually retrain_from_feedback.")],
    host: Annotated[str, typer.Option(help="KFP server URL.")],
    cron: Annotated[str, typer.Option(help="KFP cron with seconds; '0 0 3 * * 1' = Mondays 03:00.")] = "0 0 3 * * 1",
    param: ParamOption = None,
    namespace: Annotated[str | None, typer.Option(help="Kubernetes namespace (default from settings).")] = None,
    experiment: Annotated[str | None, typer.Option(help="KFP experiment (default from settings).")] = None,
) -> None:
    """Create a recurring run on a KFP server (the weekly champion/challenger retraining)."""
    from pipelines.runner import schedule

    job = schedule(name, host, cron, _pipeline_arguments(param), namespace, experiment)
    typer.echo(f"scheduled {name} on {host} ({cron}): recurring run {job}")


ReleaseOption = Annotated[str, typer.Option("--release", help="InferenceService name (the Helm release).")]
NamespaceOption = Annotated[str, typer.Option("--namespace", "-n", help="Kubernetes namespace.")]


def _rollout(release: str, namespace: str):
    from serving.rollout import Rollout

    return Rollout(release, namespace)


def _echo_split(rollout) -> None:
    split = rollout.status()
    typer.echo(split.model_dump_json(indent=2))


@rollout_app.command("status")
@command
def rollout_status(release: ReleaseOption = "teller", namespace: NamespaceOption = "teller") -> None:
    """Print the release in the spec, the canary percent and the live traffic split per revision."""
    _echo_split(_rollout(release, namespace))


@rollout_app.command("canary")
@command
def rollout_canary(
    version: Annotated[str, typer.Option(help="Release (bundle version) the canary serves.")],
    percent: Annotated[int, typer.Option(help="Share of traffic for the canary, 1-99.")] = 10,
    release: ReleaseOption = "teller",
    namespace: NamespaceOption = "teller",
) -> None:
    """Start a canary: `percent` of traffic to `version`, the rest stays on the current revision."""
    rollout = _rollout(release, namespace)
    rollout.canary(version, percent)
    _echo_split(rollout)


@rollout_app.command("promote")
@command
def rollout_promote(release: ReleaseOption = "teller", namespace: NamespaceOption = "teller") -> None:
    """Send all traffic to the canary's release."""
    rollout = _rollout(release, namespace)
    rollout.promote()
    _echo_split(rollout)


@rollout_app.command("rollback")
@command
def rollout_rollback(release: ReleaseOption = "teller", namespace: NamespaceOption = "teller") -> None:
    """Send all traffic back to the last fully rolled-out revision."""
    rollout = _rollout(release, namespace)
    rollout.rollback()
    _echo_split(rollout)


@deploy_app.command("sagemaker")
@command
def deploy_sagemaker(
    endpoint: Annotated[str, typer.Option(help="Endpoint name.")],
    version: Annotated[str, typer.Option(help="Release version (names the model and endpoint config).")],
    image: Annotated[str, typer.Option(help="ECR URI of the serving image.")],
    model_data: Annotated[str, typer.Option(help="s3:// URI of model.tar.gz holding bundle/ and kb/.")],
    role_arn: Annotated[str, typer.Option(help="SageMaker execution role ARN.")],
    instance_type: Annotated[str, typer.Option(help="Instance type.")] = "ml.m5.xlarge",
    instance_count: Annotated[int, typer.Option(help="Instances.")] = 1,
    canary_percent: Annotated[int, typer.Option(help="Capacity share the new release gets first (100: all).")] = 10,
    canary_wait_s: Annotated[int, typer.Option(help="Seconds the canary runs before the rest shifts.")] = 600,
    alarm: Annotated[list[str] | None, typer.Option(help="CloudWatch alarm that rolls back (repeatable).")] = None,
) -> None:
    """Create or update a SageMaker endpoint with the serving image (blue/green canary on update)."""
    from pydantic import ValidationError

    from serving.sagemaker import EndpointSpec, deploy

    try:
        spec = EndpointSpec(
            endpoint=endpoint,
            version=version,
            image=image,
            model_data=model_data,
            role_arn=role_arn,
            instance_type=instance_type,
            instance_count=instance_count,
            canary_percent=canary_percent,
            canary_wait_s=canary_wait_s,
            rollback_alarms=alarm or [],
        )
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise TellerError(problem["msg"], "--" + str(problem["loc"][0]).replace("_", "-")) from exc
    typer.echo(f"endpoint {endpoint}: {deploy(spec)} with release {version}")


def _rag_settings(**overrides):
    """The RAG settings with the command line's options applied and validated (a bad value is a clear error)."""
    from pydantic import ValidationError

    from teller.settings import RagSettings, get_settings

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return RagSettings.model_validate(get_settings().rag.model_dump() | given)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise TellerError(problem["msg"], "--" + str(problem["loc"][0])) from exc


@kb_app.command("build")
@command
def kb_build(
    source: Annotated[
        list[Path] | None, typer.Option(help="A file to ingest (repeatable); default: the configured sources.")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="Format of the --source files: auto|ask_cfpb|transcripts|faq.")
    ] = "auto",
    licence: Annotated[str | None, typer.Option(help="Licence shown with citations from the --source files.")] = None,
    out: Annotated[Path | None, typer.Option(help="KB directory to write; default: <data_dir>/kb.")] = None,
    calibration: Annotated[
        Path | None, typer.Option(help="Question set (JSONL) to calibrate abstention on; default: bundled set.")
    ] = None,
) -> None:
    """Ingest, mask, merge, chunk, embed and index the knowledge base; calibrate when it hands off."""
    from pydantic import ValidationError

    from rag.build import build
    from teller.settings import KBSource

    try:
        sources = [KBSource(path=p, format=fmt, licence=licence) for p in source or []]
    except ValidationError as exc:
        raise TellerError(f"unknown format {fmt!r}", "--format", "use auto, ask_cfpb, transcripts or faq") from exc
    manifest = build(sources or None, out, calibration)
    typer.echo(
        f"KB {manifest.version}: {manifest.entries} entries ({manifest.merged_duplicates} duplicates merged), "
        f"{manifest.passages} passages, abstain below {manifest.abstain_threshold}"
    )


@kb_app.command("ask")
@command
def kb_ask(
    question: Annotated[str, typer.Argument(help="The customer's question; it is PII-masked first.")],
    topic: Annotated[str | None, typer.Option(help="Chat topic from the classifier, e.g. card (boosts it).")] = None,
    answerer: Annotated[str | None, typer.Option(help="extractive|local|openai (default: settings).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
) -> None:
    """Answer one question from the KB with citations, or say it hands off to a human."""
    from rag.chain import Answerer
    from teller.masking import Masker

    masked = Masker().mask(question).text
    answer = Answerer(settings=_rag_settings(answerer=answerer)).answer(masked, topic=topic)
    if as_json:
        typer.echo(answer.model_dump_json(indent=2))
        return
    if answer.handoff:
        typer.echo(f"I don't have a reliable answer to that; handing you to a colleague ({answer.reason}).")
    else:
        typer.echo(answer.text)
        for n, c in enumerate(answer.citations, start=1):
            typer.echo(f"  [{n}] {c.title} — {c.url or c.source} ({c.date or 'undated'}, score {c.score:.2f})")
    if answer.reason and not answer.handoff:
        typer.echo(f"({answer.reason}: answered extractively)", err=True)


@kb_app.command("eval")
@command
def kb_eval(
    questions: Annotated[Path | None, typer.Option(help="JSONL question set; default: the bundled eval set.")] = None,
    answerer: Annotated[str | None, typer.Option(help="extractive|local|openai (default: settings).")] = None,
    retrieval: Annotated[str | None, typer.Option(help="dense|hybrid (default: settings).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Use this many questions, evenly spaced.")] = None,
) -> None:
    """Print hit@1, hit@3, MRR, abstention precision/recall and answer latency as one JSON object."""
    from collections import Counter

    from rag.chain import Answerer
    from rag.evaluate import EVAL_SET, evaluate, load_questions

    settings = _rag_settings(answerer=answerer, retrieval=retrieval)
    items = load_questions(questions or EVAL_SET)
    if limit and limit < len(items):
        items = [items[i * len(items) // limit] for i in range(limit)]
    chosen = Answerer(settings=settings)
    typer.echo(f"{len(items)} questions, KB {chosen.kb.version}, {settings.retrieval}, {chosen.name}", err=True)
    outcomes: Counter = Counter()
    result = evaluate(chosen, items, outcomes)
    typer.echo("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()), err=True)
    typer.echo(json.dumps(result))


def main() -> None:  # pragma: no cover - console entry
    app()
