"""PERSON spans from spaCy's NER, run only where a name can be: windows around capitalised words, in short chunks.

A complaint is mostly lower-case prose; spaCy's small model rarely tags an uncapitalised word as PERSON, and its
features see a few tokens either side. So each capitalised non-stop-word gets a window of context, overlapping
windows merge, long windows are cut on sentence or paragraph boundaries (or, failing that, at a space with an
overlap), and every window of a batch of texts goes through one ``nlp.pipe`` call with only the NER pipe enabled.
Short texts (chat messages) and texts written without capitals go through NER whole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from teller.pii.names import base, person_spans, skip_words
from teller.pii.spans import Span

_CAPITALISED = re.compile(r"(?<![\w<])[A-Z][\w'’\-]*")
_CAPS_PAIR = re.compile(r"(?<![\w<])[A-Z][A-Z'’\-]+ [A-Z][A-Z'’\-]+(?![\w>])")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n\s*")
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Jr|Sr|St|Mt|No|vs|etc|Inc|Co|Corp|Ltd|Ave|Apt|[A-Z])\.)$")
_UPPER, _LOWER = re.compile(r"[^A-Z]+"), re.compile(r"[^a-z]+")
_NOT_FOR_NER = ("tagger", "parser", "attribute_ruler", "lemmatizer", "senter", "morphologizer")  # never loaded


def name_candidates(text: str, skip: frozenset[str]) -> list[tuple[int, int]]:
    """Capitalised words that could start or be part of a name (not stop words, months, days or banking words).

    All-capital words count only in texts written mostly in capitals, or in pairs; alone they are acronyms (CFPB).
    """
    upper, lower = _case_counts(text)
    shouting = upper > 1.5 * lower
    out = []
    for match in _CAPITALISED.finditer(text):
        word = match.group()
        if len(word) < 2 or (word.isupper() and not shouting) or base(word) in skip:
            continue
        out.append(match.span())
    if not shouting:  # two capitalised words in a row may be a name written in capitals (MARIA GARCIA)
        out += [m.span() for m in _CAPS_PAIR.finditer(text) if not {base(w) for w in m.group().split()} & skip]
        out.sort()
    return out


def _case_counts(text: str, sample: int = 2000) -> tuple[int, int]:
    """Upper- and lower-case ASCII letters in the first `sample` characters."""
    head = text[:sample]
    return len(_UPPER.sub("", head)), len(_LOWER.sub("", head))


def _uncased(text: str) -> bool:
    """Written without capitals (fewer than one per 200 letters): capitalisation says nothing about names."""
    upper, lower = _case_counts(text)
    return upper * 200 < upper + lower


def windows(text: str, candidates: list[tuple[int, int]], context: int) -> list[tuple[int, int]]:
    """Merged character windows reaching `context` characters (snapped out to whitespace) around each candidate."""
    out: list[tuple[int, int]] = []
    for start, end in candidates:
        a, b = _snap_left(text, start - context), _snap_right(text, end + context)
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def chunks(text: str, start: int, end: int, max_chars: int, overlap: int) -> list[tuple[int, int]]:
    """Cut text[start:end] into pieces of at most `max_chars`: at the last sentence or paragraph end in the second
    half of a piece, else at the last space with `overlap` characters shared, so no name is cut in every piece."""
    overlap = min(overlap, max_chars // 4)
    out = []
    while end - start > max_chars:
        half, limit = start + max_chars // 2, start + max_chars
        cut = _last_sentence_end(text, half, limit)
        if cut is not None:
            out.append((start, cut))
            start = cut
            while start < end and (text[start].isspace() or text[start] in "\"')]"):
                start += 1
            continue
        space = text.rfind(" ", half, limit)
        cut = space if space > 0 else limit
        out.append((start, cut))
        back = _snap_left(text, cut - overlap)
        start = back if back >= start + max_chars // 4 else cut - overlap
    out.append((start, end))
    return out


def _last_sentence_end(text: str, lo: int, hi: int) -> int | None:
    """End (exclusive, before the whitespace) of the last sentence that ends inside text[lo:hi]."""
    best = None
    for match in _SENTENCE_END.finditer(text, lo, hi):
        if "\n" in match.group() or not _ABBREVIATION.search(text, max(0, match.start() - 6), match.start()):
            best = match.start()
    return best


def _snap_left(text: str, pos: int) -> int:
    pos = max(0, pos)
    while pos > 0 and not text[pos - 1].isspace():
        pos -= 1
    return pos


def _snap_right(text: str, pos: int) -> int:
    pos = min(len(text), pos)
    while pos < len(text) and not text[pos].isspace():
        pos += 1
    return pos


class PersonFinder:
    """spaCy NER (no tagger, parser, lemmatizer) over the windows of many texts at once."""

    def __init__(
        self, model: str, context_chars: int = 40, chunk_chars: int = 1000, overlap: int = 100, whole_chars: int = 300
    ) -> None:
        import spacy

        self.nlp = spacy.load(model, exclude=list(_NOT_FOR_NER))
        keep = {"ner"}
        for name in self.nlp.pipe_names:  # keep a shared tok2vec only if NER listens to it
            listeners = getattr(self.nlp.get_pipe(name), "listening_components", [])
            if "ner" in listeners:
                keep.add(name)
        self.nlp.select_pipes(enable=[p for p in self.nlp.pipe_names if p in keep])
        self.context_chars, self.chunk_chars, self.overlap = context_chars, chunk_chars, overlap
        self.whole_chars = whole_chars
        self._skip = skip_words()

    def pieces(self, text: str) -> list[tuple[int, int]]:
        """The character ranges of `text` that go through NER."""
        if len(text) <= self.whole_chars or _uncased(text):  # chat messages and lower-case writers: names too
            return chunks(text, 0, len(text), self.chunk_chars, self.overlap)
        out = []
        for start, end in windows(text, name_candidates(text, self._skip), self.context_chars):
            out += chunks(text, start, end, self.chunk_chars, self.overlap)
        return out

    def find(self, texts: Sequence[str]) -> list[list[Span]]:
        """PERSON spans per text, in that text's offsets."""
        jobs = [(i, start, end) for i, text in enumerate(texts) for start, end in self.pieces(text) if end > start]
        found: list[list[Span]] = [[] for _ in texts]
        docs = self.nlp.pipe((texts[i][start:end] for i, start, end in jobs), batch_size=256)
        for (i, start, _), doc in zip(jobs, docs, strict=True):
            found[i] += [Span(start + a, start + b, "PERSON", score) for a, b, score in person_spans(doc, self._skip)]
        return found
