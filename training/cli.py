"""The model lifecycle's commands: `teller train`, `baselines`, `evaluate`, `tune`, `bench`, `predict`,
`registry list|promote` and `labels propose|accept|discover|evaluate`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from teller.commands import command
from teller.errors import TellerError
from training.labels.cli import app as labels_app

app = typer.Typer()
registry_app = typer.Typer(help="The MLflow model registry: list versions, promote a challenger.", no_args_is_help=True)
app.add_typer(registry_app, name="registry")
app.add_typer(labels_app, name="labels")


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
    tail_tokens: Annotated[
        int | None, typer.Option(help="Override how many of the tokens come from the end of a long text.")
    ] = None,
    task_batches: Annotated[
        bool | None, typer.Option(help="Override one-task batches (--no-task-batches mixes tasks).")
    ] = None,
    ensemble: Annotated[
        bool | None,
        typer.Option(help="Override the lexical ensemble and joint team-issue decision (--no-ensemble: off)."),
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="Override training arithmetic: auto (bf16 where native), fp32 or bf16.")
    ] = None,
    frozen_layers: Annotated[
        int | None, typer.Option(help="Override how many bottom encoder layers stay as pre-trained.")
    ] = None,
    layer_decay: Annotated[
        float | None, typer.Option(help="Override layer-wise learning-rate decay (1: one rate for the encoder).")
    ] = None,
    label_smoothing: Annotated[
        float | None, typer.Option(help="Override the share of each target spread over other classes.")
    ] = None,
    refit_heads: Annotated[
        str | None,
        typer.Option(
            help="Override which heads are refitted on the fine-tuned embeddings where validation gains, comma"
            " separated (profiles: intent; none: off)."
        ),
    ] = None,
    train_complaints: Annotated[
        int | None,
        typer.Option(
            help="Keep at most this many training complaints (the lexical member and baselines read all).", min=1
        ),
    ] = None,
    summary: Annotated[Path | None, typer.Option(help="Also write the run summary JSON here.")] = None,
) -> None:
    """Build the corpus, fine-tune, export ONNX (+int8), evaluate vs baselines, report and register."""
    from training.lifecycle import train_and_package
    from training.train import PROFILES, profile_config

    if profile not in PROFILES:
        raise TellerError(f"unknown profile {profile!r}", "--profile", f"use one of {sorted(PROFILES)}")
    overrides = {
        "epochs": epochs,
        "max_length": max_length,
        "balance": balance,
        "tail_tokens": tail_tokens,
        "task_batches": task_batches,
        "ensemble": ensemble,
        "frozen_layers": frozen_layers,
        "layer_decay": layer_decay,
        "label_smoothing": label_smoothing,
        "precision": precision,
        "refit_heads": _head_list(refit_heads),
    }
    if train_complaints:
        overrides["data"] = {"cfpb_limits": {"train": train_complaints}}
    config = profile_config(profile, **{k: v for k, v in overrides.items() if v is not None})
    result = train_and_package(config, resume=resume, register=register)
    _print_summary(result)
    if summary:
        from teller.io import write_json

        write_json(summary, result)


def _head_list(value: str | None) -> list[str] | None:
    """Heads named in a comma-separated option ('none': no head); None leaves the profile's choice."""
    from teller.taxonomy import HEADS

    if value is None:
        return None
    heads = [h.strip() for h in value.split(",") if h.strip() and h.strip() != "none"]
    unknown = sorted(set(heads) - set(HEADS))
    if unknown:
        raise TellerError(f"unknown head(s) {', '.join(unknown)}", "--refit-heads", f"name heads from {list(HEADS)}")
    return heads


def _print_summary(result: dict) -> None:
    """The run's bundle, test metrics next to the baselines', and where its report and held-out files are."""
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
    target_recall: Annotated[
        float | None, typer.Option(help="Recall the vulnerable threshold aims for; default: training's target.")
    ] = None,
) -> None:
    """Train and score the TF-IDF and frozen-MiniLM baselines on a saved corpus's splits (JSON to stdout)."""
    from teller.settings import get_settings
    from teller.taxonomy import load_taxonomy
    from training.baselines import run_baselines
    from training.corpus import Corpus
    from training.evaluate import round_floats
    from training.train import TrainConfig

    if target_recall is None:  # the same target as the model it is compared with
        target_recall = TrainConfig.model_fields["vulnerable_target_recall"].default
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
    from teller.bundle import resolve_bundle
    from training.evaluate import evaluate_file, round_floats

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
def tune(
    lever: Annotated[str, typer.Argument(help="lexical | stacking | windows | data | frozen | neighbours")],
    bundle: Annotated[Path | None, typer.Option(help="Bundle dir; default: champion, else latest.")] = None,
    corpus: Annotated[
        Path | None, typer.Option(help="Saved corpus dir; default: the bundle's own (var/corpus/<hash>).")
    ] = None,
) -> None:
    """Try levers the recipe does not use on a bundle's own splits; print each head's validation score next to the
    bundle as served (Markdown to stdout, progress to stderr)."""
    from teller.bundle import resolve_bundle
    from teller.taxonomy import load_taxonomy
    from training.tune import LEVERS, prepare, saved_corpus, table

    if lever not in LEVERS:
        raise TellerError(f"unknown lever {lever!r}", "teller tune", f"choose one of: {', '.join(LEVERS)}")
    chosen = resolve_bundle(bundle)
    data = saved_corpus(chosen, corpus)
    typer.echo(f"tuning {lever} on {chosen.info.name} {chosen.info.version}", err=True)
    tuning = prepare(chosen, data, load_taxonomy())
    typer.echo(table(tuning.scores(), LEVERS[lever](tuning)))


@app.command()
@command
def bench(
    data: Annotated[Path, typer.Option(help="CFPB export whose narratives to time (e.g. the held-out test split).")],
    bundle: Annotated[Path | None, typer.Option(help="Bundle dir; default: champion, else latest.")] = None,
    limit: Annotated[int, typer.Option(help="How many texts to time.")] = 256,
    repeats: Annotated[int, typer.Option(help="Interleaved rounds (medians and per-round ratios reported).")] = 2,
    plans: Annotated[
        bool, typer.Option(help="Also time the fused graph and every int8 plan the bundle lacks (built on the fly).")
    ] = True,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per batched classifier call (both pipelines).")] = 32,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
) -> None:
    """Side by side in one process: Teller's classifier vs the Hugging Face pipeline, Teller's masker vs Presidio."""
    from itertools import islice

    from teller.bundle import resolve_bundle
    from teller.taxonomy import load_taxonomy
    from training.bench import format_table, side_by_side
    from training.corpus import DataConfig
    from training.data import iter_labelled
    from training.evaluate import mask_examples, round_floats

    chosen = resolve_bundle(bundle)
    examples = list(islice(iter_labelled(data, load_taxonomy()), limit))
    raw = [e.text[: DataConfig.model_fields["max_chars"].default] for e in examples]
    mask_examples(examples)
    result = side_by_side(chosen, raw, [e.text for e in examples], repeats, plans, batch_size)
    if as_json:
        typer.echo(json.dumps(round_floats(result)))
        return
    t, c = result["texts"], result["ceiling"]
    typer.echo(
        f"{chosen.info.name} {chosen.info.version} (serves {chosen.info.default_variant}), {t['count']} texts from"
        f" {data}, max_length {t['max_length']} (mean {t['mean_tokens']:.0f} tokens), {os.cpu_count()} CPUs,"
        f" {repeats} interleaved rounds, classifier batches of {batch_size}"
    )
    typer.echo(format_table(result["rows"]))
    typer.echo(
        f"x: {result['ratios']} (x bat/b1: batched rate / the anchor's batch-1 rate)."
        f" GEMM ceiling fp32 {c['fp32_gflops']:.0f} GFLOP/s, int8 {c['int8_gops']:.0f} GOP/s"
        f" ({c['how']}); encoder {c['encoder_gflop_per_text']:.2f} GFLOP per text. MiB: {result['memory']}."
    )


@app.command()
@command
def predict(
    data: Annotated[Path, typer.Option(help="A CFPB export (.csv/.csv.gz/.zip), or a CSV/Parquet with a text column.")],
    out: Annotated[Path, typer.Option(help="Decisions file: .csv or .parquet (appears only when complete).")],
    bundle: Annotated[Path | None, typer.Option(help="Bundle dir; default: champion, else latest.")] = None,
    text_column: Annotated[str, typer.Option(help="Column with the complaint text.")] = "Consumer complaint narrative",
    batch_size: Annotated[int, typer.Option(min=1, help="Texts masked and scored together.")] = 256,
    limit: Annotated[int | None, typer.Option(min=0, help="Stop after this many texts.")] = None,
    ray: Annotated[str | None, typer.Option(help="Run on Ray Data: local (loopback), auto or ray://HOST:PORT.")] = None,
) -> None:
    """Mask and triage every complaint in a file; write the decisions (masked text only) with the model version."""
    from teller.bundle import resolve_bundle
    from training.predict import output_kind, predict_ray
    from training.predict import predict as predict_here

    output_kind(out)
    chosen = resolve_bundle(bundle)
    where = f" on Ray ({ray})" if ray else ""
    typer.echo(f"scoring {data} with {chosen.info.name} {chosen.info.version}{where}", err=True)
    options = {"text_column": text_column, "batch_size": batch_size, "limit": limit}
    if ray:
        stats = predict_ray(data, out, chosen.path, ray, **options)
    else:
        stats = predict_here(data, out, chosen.path, **options)
    typer.echo(stats.summary(out))


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
