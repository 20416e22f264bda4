"""Pattern recognizers for banking PII, each behind a cheap prefilter so a text without digits or '@' skips them.

Presidio's own recognizers are reused where their validators help (Luhn, IBAN checksum, e-mail domains); the rest
replace defaults that miss banking PII: SSN-shaped numbers Presidio's validator rejects, account numbers, street
addresses, and names introduced in set phrases.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from teller.pii.spans import Span

CONTEXT_BOOST = 0.35  # Presidio's context_similarity_factor
CONTEXT_FLOOR = 0.4  # Presidio's min_score_with_context_similarity
_CONTEXT_BEFORE, _CONTEXT_AFTER = 48, 24  # characters searched for context words around a match

_NAME_WORD = r"[A-Z](?:[a-z]|['’][A-Z])[a-zA-Z'’\-]*"  # Title-case (O'Brien, McAllister), not an acronym
_CAPS_WORD = r"[A-Z][A-Z'’\-]+"
# Words that make a capitalised phrase a company, not a person ("the collector, Midland Credit").
_ORG_WORD = (
    r"(?:Bank|Banks|Financial|Finance|Credit|Services?|Inc|LLC|Corp|Corporation|Company|Co|Group|Recovery|Funding"
    r"|Capital|Mortgage|Lending|Loans?|Union|Associates|Partners|Holdings|Solutions|Management|Collections?|Agency"
    r"|Bureau|Federal|National|One|America|Trust|Savings|Cards?|Auto|Insurance|Law|Firm|Systems|Portfolio)\b"
)
# People named right after who they are to the customer: "my husband Juan Ortiz", "the representative, Mary Hill".
_KIN_OR_ROLE = (
    r"spouse|husband|wife|ex-spouse|ex-husband|ex-wife|mother|father|parent|son|daughter|brother|sister|grandmother"
    r"|grandfather|grandson|granddaughter|aunt|uncle|nephew|niece|cousin|friend|boyfriend|girlfriend|fianc[ée]e?"
    r"|partner|roommate|tenant|caregiver|guardian|representative|rep|agent|supervisor|manager|employee|officer"
    r"|advisor|banker|teller|attorney|lawyer|notary|holder|co-signer|cosigner|beneficiary|executor"
)
_NAME_PHRASE = (
    rf"(?i:\b(?:name|i'm|i am|mr|mrs|ms|miss|mx|dr|sincerely|regards|respectfully|{_KIN_OR_ROLE}"
    r"|made out to|payable to|order of)\b)"
)
_CAPS_STOP = r"(?:AND|I|IM|AM|HAVE|WAS|IS|FROM|WITH|THE|MY|ON|IN|AT|TO|OF|BUT|WHO|THAT|THIS)\b"
_ITIN_GROUP = r"(?:5\d|6[0-5]|7\d|8[0-8]|9[0-2]|9[4-9])"
_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter|Circle|Cir"
    r"|Parkway|Pkwy|Highway|Hwy|Trail|Trl|Square|Sq|Loop|Pike|Plaza|Crossing|Xing)\.?"
)
_DIRECTION = r"(?:[NSEW]\.?|North|South|East|West|[NS][EW])"
_CITY_STATE_ZIP = r"(?:,?\s[A-Z][a-z]+(?:\s[A-Z][a-z]+){0,2},\s?[A-Z]{2}(?:\s\d{5}(?:-\d{4})?)?)"
_UNIT = r"(?:,?\s(?:Apt|Apartment|Suite|Ste|Unit|#)\.?\s?#?[0-9A-Z]{1,6}\b)"


@dataclass(frozen=True)
class Family:
    """One Presidio recognizer that runs only on texts its prefilter matches, with Presidio-style context boosts."""

    entity: str
    recognizer: object  # a presidio_analyzer EntityRecognizer
    prefilter: re.Pattern[str]
    context: re.Pattern[str] | None

    def find(self, text: str) -> list[Span]:
        """Spans of this family's entity in `text` (none without running the recognizer if the prefilter misses)."""
        if not self.prefilter.search(text):
            return []
        results = self.recognizer.analyze(text, [self.entity], None)  # type: ignore[attr-defined]
        return [Span(r.start, r.end, r.entity_type, self._score(text, r.start, r.end, r.score)) for r in results]

    def _score(self, text: str, start: int, end: int, score: float) -> float:
        if self.context is None:
            return score
        around = text[max(0, start - _CONTEXT_BEFORE) : start] + " " + text[end : end + _CONTEXT_AFTER]
        if self.context.search(around):
            return min(1.0, max(score + CONTEXT_BOOST, CONTEXT_FLOOR))
        return score


def _context_regex(words: Sequence[str] | None) -> re.Pattern[str] | None:
    """Whole-word, case-insensitive match of any context word (or its plural)."""
    if not words:
        return None
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")s?\b", re.IGNORECASE)


def build_families(entities: Sequence[str], phone_regions: Sequence[str]) -> list[Family]:
    """The prefiltered recognizers for the configured entities (PERSON here covers only set phrases; NER is apart)."""
    wanted = set(entities)
    out = []
    for entity, factory, prefilter in _CATALOGUE:
        if entity in wanted:
            recognizer = factory(wanted, tuple(phone_regions))
            out.append(Family(entity, recognizer, re.compile(prefilter), _context_regex(recognizer.context)))
    return out


def _ssn(wanted: set[str], _regions: tuple[str, ...]) -> object:
    return _ssn_class()(defer_itin="US_ITIN" in wanted)


def _ssn_class() -> type:
    from presidio_analyzer import Pattern
    from presidio_analyzer.predefined_recognizers import UsSsnRecognizer

    class UsSsnShapeRecognizer(UsSsnRecognizer):
        """Every SSN-shaped number, including the ones Presidio rejects as samples (078-05-1120, 123-45-6789)."""

        def __init__(self, defer_itin: bool) -> None:
            super().__init__(
                patterns=[
                    Pattern("ssn 3-2-4 dashes", r"\b\d{3}-\d{2}-\d{4}\b", 0.6),
                    Pattern("ssn 3-2-4 spaces or dots", r"\b\d{3}[ .]\d{2}[ .]\d{4}\b", 0.5),
                    Pattern("ssn 9 digits", r"\b\d{9}\b", 0.1),
                ],
                context=[*UsSsnRecognizer.CONTEXT, "ss#", "ssn#", "taxpayer"],
                name="UsSsnShapeRecognizer",
            )
            self.defer_itin = defer_itin
            self._itin = re.compile(rf"9\d\d\D?{_ITIN_GROUP}\D?\d{{4}}")

        def invalidate_result(self, pattern_text: str) -> bool:
            """Reject only mixed delimiters, and ITIN-shaped numbers when the ITIN recognizer claims them."""
            if len({c for c in pattern_text if not c.isdigit()}) > 1:
                return True
            return self.defer_itin and bool(self._itin.fullmatch(pattern_text))

    return UsSsnShapeRecognizer


def _itin(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer.predefined_recognizers import UsItinRecognizer

    return UsItinRecognizer()


def _card(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer import Pattern
    from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

    # Presidio's pattern misses 2-series Mastercard and odd groupings; any Luhn-valid 13-19 digit run counts.
    patterns = [*CreditCardRecognizer.PATTERNS, Pattern("card 13-19 digits", r"\b(?:\d[ -]?){12,18}\d\b", 0.3)]
    return CreditCardRecognizer(patterns=patterns)


def _iban(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer.predefined_recognizers import IbanRecognizer

    return IbanRecognizer()


def _email(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    return EmailRecognizer()


def _ip(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer.predefined_recognizers import IpRecognizer

    return IpRecognizer()


def _bank(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer import Pattern, PatternRecognizer

    return PatternRecognizer(
        supported_entity="US_BANK_NUMBER",
        name="UsBankRecognizer",
        # Presidio scores bare 8-17 digit runs at 0.05; in a bank's inbox they are account numbers.
        patterns=[Pattern("account number", r"\b\d{8,17}\b", 0.4)],
        context=["account", "acct", "account#", "checking", "savings", "routing", "bank", "debit"],
    )


def _address(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer import Pattern, PatternRecognizer

    street = (
        rf"\b\d{{1,6}}[A-Z]?\s(?:{_DIRECTION}\s)?(?:{_NAME_WORD}|\d{{1,3}}(?:st|nd|rd|th))"
        rf"(?:\s{_NAME_WORD}){{0,3}}\s{_STREET_SUFFIX}(?:\s{_DIRECTION}\b)?{_UNIT}?{_CITY_STATE_ZIP}?"
    )
    po_box = rf"\b(?:P\.?\s?O\.?\s?Box|Post Office Box)\s\d{{1,6}}\b{_CITY_STATE_ZIP}?"
    return PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddressRecognizer",
        patterns=[Pattern("street address", street, 0.6), Pattern("po box", po_box, 0.6)],
        context=["address", "live", "lives", "mail", "mailed", "sent", "residence", "moved"],
        global_regex_flags=re.DOTALL | re.MULTILINE,  # case-sensitive: street names are capitalised
    )


def _names(_wanted: set[str], _regions: tuple[str, ...]) -> object:
    from presidio_analyzer import Pattern, PatternRecognizer

    word, caps = _NAME_WORD, _CAPS_WORD
    either = rf"(?:{word}|{caps})"
    person = rf"(?!(?:{word} ){{0,2}}{_ORG_WORD}){word}"  # a Title-case phrase with no company word in it
    payee = rf"(?!(?:{either} ){{0,2}}{_ORG_WORD}){either}"
    return PatternRecognizer(
        supported_entity="PERSON",
        name="NameIntroductionRecognizer",
        # spaCy's small model misses less common names; customers introduce themselves in set phrases.
        patterns=[
            Pattern("my name is", rf"(?<=[Mm]y name is ){either}(?: (?!{_CAPS_STOP}){either}){{0,2}}", 0.85),
            Pattern("my name's", rf"(?<=[Mm]y name's ){either}(?: (?!{_CAPS_STOP}){either}){{0,2}}", 0.85),
            Pattern("MY NAME IS", rf"(?<=MY NAME IS ){caps}(?: (?!{_CAPS_STOP}){caps}){{0,2}}", 0.85),
            Pattern("I'm First Last", rf"(?<=I'm ){word} {word}", 0.6),
            Pattern("I am First Last", rf"(?<=I am ){word} {word}", 0.6),
            Pattern("title", rf"(?<=\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.? ){word}(?: {word})?", 0.6),
            Pattern("named", rf"(?<=\bnamed ){person}(?: {word}){{0,2}}", 0.6),
            Pattern("kin or role", rf"(?<=\b(?:{_KIN_OR_ROLE})[,:]? ){person}(?: {word}){{0,2}}", 0.6),
            Pattern("payee", rf"(?<=\b(?:made out to|payable to|order of) ){payee}(?: {either}){{0,2}}", 0.6),
            Pattern("signature", rf"(?<=\b(?:Sincerely|Regards|Respectfully),\s){word}(?: {word}){{1,2}}", 0.6),
        ],
        global_regex_flags=re.DOTALL | re.MULTILINE,  # case-sensitive: names are capitalised
    )


def _phone(_wanted: set[str], regions: tuple[str, ...]) -> object:
    return _phone_class()(regions)


def _phone_class() -> type:
    import phonenumbers
    from presidio_analyzer import LocalRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    nanp = re.compile(
        r"(?<![\w+])(?:\+?1[\s.\-]?)?"
        r"(?:\([2-9]\d{2}\)\s?[2-9]\d{2}[\s.\-]?\d{4}"  # (212) 555-0187
        r"|[2-9]\d{2}([\s.\-])[2-9]\d{2}\1\d{4}"  # 212-555-0187, 212.555.0187, 212 555 0187
        r"|[2-9]\d{2}[2-9]\d{6})"  # 2125550187
        r"(?!\w)"
    )

    class NanpPhoneRecognizer(LocalRecognizer):
        """US/Canadian numbers by one regex (area code and exchange start 2-9); libphonenumber only for '+' numbers.

        Presidio's PhoneRecognizer runs libphonenumber's matcher over the whole text once per region: the slowest
        recognizer by far.
        """

        def __init__(self, regions: tuple[str, ...]) -> None:
            super().__init__(
                supported_entities=["PHONE_NUMBER"],
                context=[*PhoneRecognizer.CONTEXT, "reach", "text", "contact", "fax"],
                name="NanpPhoneRecognizer",
            )
            self.regions = regions

        def load(self) -> None:
            """Nothing to load."""

        def analyze(self, text: str, entities: list[str], nlp_artifacts: object = None) -> list:
            """NANP-shaped numbers, plus international ones written with a leading '+'."""
            found = {(m.start(), m.end()) for m in nanp.finditer(text)}
            if "+" in text:
                for region in self.regions[:1]:
                    found |= {(m.start, m.end) for m in phonenumbers.PhoneNumberMatcher(text, region, leniency=1)}
            return [RecognizerResult("PHONE_NUMBER", start, end, PhoneRecognizer.SCORE) for start, end in found]

    return NanpPhoneRecognizer


# entity, recognizer factory, prefilter (a text the prefilter misses cannot hold the entity)
_CATALOGUE: list[tuple[str, Callable[[set[str], tuple[str, ...]], object], str]] = [
    ("EMAIL_ADDRESS", _email, r"@"),
    ("PHONE_NUMBER", _phone, r"\d{3}\D{0,3}\d{4}|\+\d"),
    ("CREDIT_CARD", _card, r"\d{4}[ -]?\d{3}"),
    ("US_SSN", _ssn, r"\d{3}[ .\-]?\d{2}[ .\-]?\d{4}"),
    ("US_ITIN", _itin, r"9\d\d\D?[5-9]\d\D?\d{4}"),
    ("IBAN_CODE", _iban, r"\b[A-Z]{2}\d{2}"),
    ("US_BANK_NUMBER", _bank, r"\d{8}"),
    ("IP_ADDRESS", _ip, r"\d\.\d{1,3}\.\d|[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:"),
    ("STREET_ADDRESS", _address, r"\d\s\S|(?i:p\.?\s?o\.?\s?box|post office box)"),
    ("PERSON", _names, _NAME_PHRASE),
]
