"""Detected PII spans: merging overlaps and replacing them with ``<ENTITY>`` placeholders."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple


class Span(NamedTuple):
    """One detected PII span, in character offsets of the analysed text."""

    start: int
    end: int
    entity: str
    score: float


def merge(spans: Iterable[Span]) -> list[Span]:
    """Union overlapping spans (nothing of either may survive); the best-scored, then longest, names the union."""
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            last = out[-1]
            best = max(last, span, key=lambda s: (s.score, s.end - s.start))
            out[-1] = Span(last.start, max(last.end, span.end), best.entity, best.score)
        else:
            out.append(span)
    return out


def replace(text: str, spans: list[Span]) -> tuple[str, Counter[str]]:
    """`text` with each (merged, sorted) span replaced by ``<ENTITY>``, and how many of each were replaced."""
    parts: list[str] = []
    cursor = 0
    for span in spans:
        parts += [text[cursor : span.start], f"<{span.entity}>"]
        cursor = span.end
    parts.append(text[cursor:])
    return "".join(parts), Counter(span.entity for span in spans)
