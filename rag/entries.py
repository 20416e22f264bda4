"""The knowledge-base record: one answer with everything a citation needs, and the chunks it is indexed by."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9$<])")
_WORD = re.compile(r"[a-z0-9]+")


class KBEntry(BaseModel):
    """One answer in the knowledge base; `id` is `<source>:<source's own id>`."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="Qualified id, e.g. `ask_cfpb:55`.")
    source: str = Field(description="Loader that produced it: ask_cfpb, transcripts or faq.")
    title: str = Field(description="The question this entry answers.")
    text: str = Field(description="Answer text (PII-masked for transcripts and FAQs).")
    topic: str | None = Field(None, description="The source's own topic or class.")
    url: str | None = Field(None, description="Page to cite.")
    date: str | None = Field(None, description="When the content was written (ISO date or month).")
    licence: str | None = Field(None, description="Licence of the source text.")
    aliases: list[str] = Field(default_factory=list, description="Ids of near-duplicates merged into this entry.")

    @property
    def ids(self) -> list[str]:
        return [self.id, *self.aliases]


def normalise(text: str) -> str:
    """Lower-case words only: the key near-identical texts share."""
    return " ".join(_WORD.findall(text.lower()))


def sentences(text: str) -> list[str]:
    """Split text into sentences on end punctuation followed by a capital, digit or placeholder."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def chunk(text: str, max_words: int = 120) -> list[str]:
    """Cut text into passages of at most about `max_words`, on paragraph and then sentence boundaries."""
    chunks: list[str] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if not paragraph:
            continue
        current: list[str] = []
        size = 0
        for sentence in sentences(paragraph):
            words = len(sentence.split())
            if current and size + words > max_words:
                chunks.append(" ".join(current))
                current, size = [], 0
            current.append(sentence)
            size += words
        if current:
            chunks.append(" ".join(current))
    return chunks
