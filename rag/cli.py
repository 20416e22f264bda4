"""The knowledge base's commands: `teller kb build|ask|eval|bench`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from teller.commands import command
from teller.errors import TellerError

if TYPE_CHECKING:
    from teller.settings import RagSettings

app = typer.Typer()
kb_app = typer.Typer(help="The knowledge base for chat answers: build, ask, evaluate.", no_args_is_help=True)
app.add_typer(kb_app, name="kb")


def _rag_settings(**overrides) -> RagSettings:
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


@kb_app.command("bench")
@command
def kb_bench(
    questions: Annotated[Path | None, typer.Option(help="JSONL question set; default: the calibration set.")] = None,
    rounds: Annotated[int, typer.Option(min=1, help="Interleaved rounds per encoder.")] = 3,
) -> None:
    """Answer latency with the torch encoder beside the KB's ONNX encoder, side by side, as one JSON object."""
    from rag.evaluate import CALIBRATION_SET, compare_encoders, load_questions
    from teller.settings import get_settings

    items = load_questions(questions or CALIBRATION_SET)
    typer.echo(json.dumps(compare_encoders(get_settings().kb_dir, items, rounds)))
