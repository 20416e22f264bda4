"""`teller labels propose|accept|discover|evaluate`: add labels zero-shot, then learn them at the next training run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from teller.commands import command
from teller.taxonomy import TAXONOMY_PATH

app = typer.Typer(help="New labels without retraining: propose, accept, discover, evaluate.", no_args_is_help=True)


@app.command()
@command
def propose(
    name: Annotated[str, typer.Argument(help="The new label's name, e.g. 'Overdraft fee refund'.")],
    description: Annotated[str, typer.Option(help="One sentence saying what the label means.")],
    example: Annotated[list[str] | None, typer.Option(help="An example text (repeat; 3+ to calibrate).")] = None,
    head: Annotated[str, typer.Option(help="issue (complaints) or topic (chat messages).")] = "issue",
    data: Annotated[Path | None, typer.Option(help="Score this file instead of the saved corpus.")] = None,
    corpus: Annotated[Path | None, typer.Option(help="Saved corpus dir (var/corpus/<hash>); default: newest.")] = None,
    prevalence: Annotated[
        float | None, typer.Option(help="Expected share of texts with the label; default 1/(labels+1).")
    ] = None,
    threshold: Annotated[float | None, typer.Option(help="Use this score threshold instead of calibrating.")] = None,
    contrast: Annotated[bool, typer.Option(help="Subtract the similarity to the nearest existing label.")] = True,
) -> None:
    """Score existing texts against a new label; write review.csv and a report. The served model is untouched."""
    from teller.taxonomy import load_taxonomy
    from training.labels.propose import propose as run

    taxonomy = load_taxonomy()
    summary = run(name, description, example or [], head, taxonomy, data, corpus, prevalence, threshold, contrast)
    t = summary["threshold"]
    expected = (
        f" (expected precision {t['expected_precision']:.2f}, recall {t['expected_recall']:.2f})"
        if t["expected_precision"] is not None
        else " (no examples to judge it by)"
    )
    typer.echo(
        f"{summary['proposed']} of {summary['rows']} {head} texts proposed for {name!r} at threshold"
        f" {t['value']:.3f}{expected}"
    )
    typer.echo(f"review: {_dir(name)}/review.csv (flip `proposed` where wrong, then `teller labels accept`)")


@app.command()
@command
def accept(
    name: Annotated[str, typer.Argument(help="A proposed label's name.")],
    team: Annotated[list[str] | None, typer.Option(help="issue labels: a team that carries it (repeat).")] = None,
    taxonomy: Annotated[Path, typer.Option(help="The taxonomy YAML to add the label to.")] = TAXONOMY_PATH,
) -> None:
    """Add the label to the taxonomy and its yes rows to the next training run's data (marked zero-shot)."""
    from training.labels.accept import accept as run

    typer.echo(json.dumps(run(name, taxonomy, team)))


@app.command()
@command
def discover(
    head: Annotated[str, typer.Option(help="issue (complaints) or topic (chat messages).")] = "issue",
    bundle: Annotated[Path | None, typer.Option(help="Bundle dir; default: champion, else latest.")] = None,
    data: Annotated[Path | None, typer.Option(help="Score this file instead of the saved corpus.")] = None,
    max_confidence: Annotated[float, typer.Option(help="Texts whose top probability is below this.")] = 0.5,
    limit: Annotated[int, typer.Option(min=1, help="Texts scored (a seeded sample).")] = 2000,
    clusters: Annotated[int | None, typer.Option(min=2, help="Number of clusters; default ~sqrt(n/2).")] = None,
) -> None:
    """Cluster the texts the model is unsure of; write var/reports/labels/discover.json for an analyst."""
    from teller.bundle import resolve_bundle
    from teller.taxonomy import load_taxonomy
    from training.labels.discover import discover as run
    from training.labels.discover import report_path

    report = run(resolve_bundle(bundle), load_taxonomy(), head, data, None, max_confidence, limit, clusters)
    typer.echo(f"{report['uncertain']} of {report['scored']} texts below {max_confidence}: {report_path()}")
    for c in report["clusters"]:
        typer.echo(f"cluster {c['id']:>2} ({c['size']:>4} texts): {', '.join(c['top_terms'][:6])}")


@app.command()
@command
def evaluate(
    hide: Annotated[int, typer.Option(help="How many Banking77 intents to hide.")] = 5,
    shots: Annotated[int, typer.Option(help="Examples per hidden intent.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed choosing the hidden intents and examples.")] = 13,
    split: Annotated[str, typer.Option(help="val (to choose settings) or test (to report).")] = "test",
    contrast: Annotated[bool, typer.Option(help="Subtract the similarity to the nearest visible intent.")] = True,
    data: Annotated[Path | None, typer.Option(help="Banking77 train.csv; default: the shared copy.")] = None,
) -> None:
    """Hide Banking77 intents, add them back zero-shot, print P/R/F1 per intent on the split."""
    from training.labels.banking77 import evaluate_hidden, format_table

    result = evaluate_hidden(data, hide, shots, seed, split, contrast)
    typer.echo(f"hidden (seed {seed}): {', '.join(result['hidden'])}; {result['rows']} {split} queries")
    typer.echo(format_table(result))


def _dir(name: str) -> Path:
    from training.labels.propose import report_dir

    return report_dir(name)
