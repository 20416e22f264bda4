"""What the gateway calls for each stage: in-process objects, or Ray Serve deployment handles."""

from __future__ import annotations

import asyncio
from typing import Protocol

from rag.answer import Answer
from serving.runtime import Attribution, Decision, Intent, occlusion


class Backends(Protocol):
    """The model stages the gateway composes; every method takes masked text except `mask`."""

    model_name: str
    model_version: str

    async def mask(self, texts: list[str]) -> list[str]: ...

    async def triage(self, texts: list[str]) -> list[Decision]: ...

    async def intents(self, texts: list[str]) -> list[Intent]: ...

    async def answer(self, question: str, topic: str | None) -> Answer: ...

    async def explain(self, text: str, head: str) -> Attribution: ...


class LocalBackends:
    """All stages in this process (tests, `teller serve --local`), run off the event loop."""

    def __init__(self, masker, classifier, answerer) -> None:
        self.masker, self.classifier, self.answerer = masker, classifier, answerer
        self.model_name, self.model_version = classifier.bundle.info.name, classifier.version

    async def mask(self, texts: list[str]) -> list[str]:
        return [m.text for m in await asyncio.to_thread(self.masker.mask_many, texts)]

    async def triage(self, texts: list[str]) -> list[Decision]:
        return await asyncio.to_thread(self.classifier.triage, texts)

    async def intents(self, texts: list[str]) -> list[Intent]:
        return await asyncio.to_thread(self.classifier.intents, texts)

    async def answer(self, question: str, topic: str | None) -> Answer:
        return await asyncio.to_thread(self.answerer.answer, question, topic)

    async def explain(self, text: str, head: str) -> Attribution:
        return await asyncio.to_thread(occlusion, self.classifier, text, head)
