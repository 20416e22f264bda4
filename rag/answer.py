"""Answerers: turn a retrieval into a cited answer, or a hand-off when nothing relevant was found.

The extractive answerer only ever returns sentences copied from a cited entry. The generative one asks a
chat model to answer from the retrieved passages and keeps its answer only if the passages support it.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rag.embeddings import SentenceEncoder
from rag.entries import sentences
from rag.llm import ChatClient, LLMError
from rag.retrieval import Hit, Retrieval, tokens

log = logging.getLogger(__name__)

HANDOFF_NO_ANSWER = "no_relevant_answer"
MAX_ANSWER_WORDS = 90
SUPPORT_MIN = 0.8  # share of a generated answer's content words that must appear in the passages
_CITE = re.compile(r"\[(\d+)\]")


class Citation(BaseModel):
    """A KB entry an answer rests on."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="KB entry id, e.g. ask_cfpb:55.")
    title: str
    url: str | None
    snippet: str = Field(description="The passage that matched, trimmed.")
    score: float = Field(description="Cosine relevance of the passage to the question.")
    source: str
    date: str | None
    licence: str | None


class Answer(BaseModel):
    """What the chat shows: an answer with citations, or a hand-off to a human with the reason."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The (masked) question that was answered.")
    text: str | None = Field(description="Answer text; None when handed off.")
    citations: list[Citation] = Field(default_factory=list)
    handoff: bool = False
    reason: str | None = Field(None, description="Why it was handed off, or why a generated answer was dropped.")
    answerer: str = Field(description="extractive, local or openai: who wrote the text.")
    relevance: float = Field(description="Best passage cosine; compared with the abstention threshold.")
    retrieved: list[str] = Field(default_factory=list, description="Entry ids retrieved, best first.")
    kb_version: str | None = None


def citation(hit: Hit, max_chars: int = 280) -> Citation:
    e = hit.entry
    snippet = hit.chunk if len(hit.chunk) <= max_chars else hit.chunk[:max_chars].rsplit(" ", 1)[0] + " …"
    return Citation(
        id=e.id,
        title=e.title,
        url=e.url,
        snippet=snippet,
        score=round(hit.score, 4),
        source=e.source,
        date=e.date,
        licence=e.licence,
    )


class ExtractiveAnswerer:
    """Answers with the sentences of the best entry that are closest to the question, in their order."""

    name = "extractive"

    def __init__(self, embeddings: SentenceEncoder, threshold: float, top_k: int = 3) -> None:
        self.embeddings, self.threshold, self.top_k = embeddings, threshold, top_k
        # Popular answers recur: their sentence vectors are kept rather than recomputed per question.
        self._sentence_vectors = lru_cache(maxsize=1024)(self.embeddings.encode)

    def __call__(self, retrieval: Retrieval) -> Answer:
        cited = self.cited(retrieval)
        if not cited:
            return self.handoff(retrieval)
        return self.answer(retrieval, self.extract(retrieval.vector, cited[0].chunk), cited, self.name)

    def cited(self, retrieval: Retrieval) -> list[Hit]:
        """Hits relevant enough to cite (none if the best one is below the threshold)."""
        return [h for h in retrieval.hits[: self.top_k] if h.score >= self.threshold]

    def extract(self, vector: np.ndarray, passage: str) -> str:
        """The passage trimmed to the sentences nearest the question, in order, about `MAX_ANSWER_WORDS` long."""
        parts = sentences(passage)
        if len(" ".join(parts).split()) <= MAX_ANSWER_WORDS:
            return " ".join(parts)
        scores = self._sentence_vectors(tuple(parts)) @ vector
        chosen: set[int] = set()
        words = 0
        for i in np.argsort(-scores):
            n = len(parts[i].split())
            if chosen and words + n > MAX_ANSWER_WORDS:
                continue
            chosen.add(int(i))
            words += n
        return " ".join(parts[i] for i in sorted(chosen))

    def answer(self, retrieval: Retrieval, text: str, cited: list[Hit], who: str, reason: str | None = None) -> Answer:
        return Answer(
            question=retrieval.query,
            text=text,
            citations=[citation(h) for h in cited],
            answerer=who,
            reason=reason,
            relevance=round(retrieval.relevance, 4),
            retrieved=[h.entry.id for h in retrieval.hits],
        )

    def handoff(self, retrieval: Retrieval) -> Answer:
        return Answer(
            question=retrieval.query,
            text=None,
            handoff=True,
            reason=HANDOFF_NO_ANSWER,
            answerer=self.name,
            relevance=round(retrieval.relevance, 4),
            retrieved=[h.entry.id for h in retrieval.hits],
        )


class GenerativeAnswerer:
    """A chat model writes the answer from numbered passages; unsupported or failed answers fall back."""

    SYSTEM = (
        "You are a bank's customer-service assistant. Answer the customer's question using only the numbered "
        "passages. Cite the passages you used like [1]. If the passages do not answer the question, say you "
        "do not know. Be brief: at most three sentences."
    )

    def __init__(self, client: ChatClient, extractive: ExtractiveAnswerer, max_tokens: int = 160) -> None:
        self.client, self.extractive, self.max_tokens = client, extractive, max_tokens
        self.name = client.name

    def __call__(self, retrieval: Retrieval) -> Answer:
        cited = self.extractive.cited(retrieval)
        if not cited:
            return self.extractive.handoff(retrieval)
        passages = "\n".join(f"[{i}] {h.entry.title} {h.chunk}" for i, h in enumerate(cited, start=1))
        messages = [
            {"role": "system", "content": self.SYSTEM},
            {"role": "user", "content": f"Passages:\n{passages}\n\nQuestion: {retrieval.query}"},
        ]
        try:
            text = self.client.complete(messages, max_tokens=self.max_tokens).strip()
        except LLMError as exc:
            log.warning("generator failed, answering extractively: %s", exc)
            return self._fallback(retrieval, "generator_unavailable")
        if support(text, [f"{h.entry.title} {h.chunk}" for h in cited]) < SUPPORT_MIN:
            return self._fallback(retrieval, "generated_answer_unsupported")
        used = {int(n) for n in _CITE.findall(text) if 0 < int(n) <= len(cited)}
        ordered = [h for i, h in enumerate(cited, start=1) if i in used] or cited
        return self.extractive.answer(retrieval, text, ordered, self.name)

    def _fallback(self, retrieval: Retrieval, reason: str) -> Answer:
        answer = self.extractive(retrieval)
        return answer.model_copy(update={"reason": reason})


def support(text: str, passages: list[str]) -> float:
    """Share of the text's content words (citation marks aside) that occur in the passages; 0 for no words."""
    words = tokens(_CITE.sub(" ", text))
    if not words:
        return 0.0
    known = {_stem(w) for p in passages for w in tokens(p)}
    return sum(_stem(w) in known for w in words) / len(words)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word
