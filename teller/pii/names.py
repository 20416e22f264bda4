"""Which words and spaCy entities are people's names, for a model that mislabels rarer names.

spaCy's small model tags company names as PERSON ("Santander") and rarer personal names as ORG or NORP ("Latoya
McAllister", "Anneliese Brandt"), and cuts names short ("Jin" of "Jin-woo Park"). Teller keeps PERSON entities
that contain a possible name word, takes name-shaped ORG and NORP entities too, and grows each over the rest of
its capitalised or hyphenated name.
"""

from __future__ import annotations

PERSON_SCORE = 0.85  # Presidio's SpacyRecognizer score
MISLABELLED_SCORE = 0.5  # an ORG or NORP entity shaped like a personal name
_NAME_LABELS = frozenset({"PERSON", "PER"})
_MISLABELS = frozenset({"ORG", "NORP"})
_LONGEST_NAME = 4  # tokens a name is grown to at most
_CALENDAR = {
    "january", "february", "march", "april", "june", "july", "august", "september", "october", "november",
    "december", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
}  # fmt: skip
# Capitalised words frequent in banking complaints that are not names (a name next to one still gets NER).
_NOT_NAMES = frozenset(
    {
        "acceptance", "according", "account", "accounts", "act", "action", "additionally", "advance", "adverse",
        "affairs", "agency", "america", "amex", "associates", "automobile", "balance", "bank", "bankruptcy", "banks",
        "based", "birth", "bureau", "bureaus", "business", "capital", "card", "cards", "certificate", "certified",
        "cfpb", "citi", "citibank", "closed", "code", "collection", "collections", "complaint", "consumer", "consumers",
        "contact", "court", "credit", "creditor", "creditors", "customer", "date", "dear", "debit", "department",
        "dept", "details", "discover", "dividend", "equifax", "experian", "express", "fargo", "federal", "finally",
        "finance", "financial", "fraud", "funding", "group", "hello", "hi", "holdings", "identity", "inc", "income",
        "information", "inquired", "inquiries", "inquiry", "insurance", "law", "laws", "lender", "lending", "letter",
        "letters", "limit", "llc", "loan", "loans", "mail", "management", "mastercard", "mortgage", "navient", "nelnet",
        "notarized", "note", "notice", "number", "office", "original", "owed", "partners", "payment", "payments",
        "paypal", "pennymac", "pnc", "portfolio", "protection", "provide", "recovery", "repayment", "report",
        "reported", "reporting", "reports", "request", "sale", "santander", "savings", "section", "security", "service",
        "services", "social", "solutions", "states", "status", "suntrust", "synchrony", "systems", "thank", "thanks",
        "theft", "transunion", "trust", "truth", "type", "union", "unverified", "usa", "usaa", "verification",
        "violation", "violations", "visa"
    }
)  # fmt: skip


def skip_words() -> frozenset[str]:
    """Lower-case words that are never taken for a name: stop words, months and days, banking and company words."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | _CALENDAR | _NOT_NAMES


def base(word: str) -> str:
    """Lower-cased word without a clitic ("I'm" -> "i")."""
    return word.replace("’", "'").split("'", 1)[0].lower()


def person_spans(doc, skip: frozenset[str]) -> list[tuple[int, int, float]]:
    """(start_char, end_char, score) of the names in a spaCy doc."""
    ents = list(doc.ents)
    out = []
    for k, ent in enumerate(ents):
        if ent.label_ in _NAME_LABELS and any(t.is_alpha and base(t.text) not in skip for t in ent):
            score = PERSON_SCORE
        elif ent.label_ in _MISLABELS and _name_shaped(ent, skip) and (len(ent) > 1 or _beside_a_name(ents, k)):
            score = MISLABELLED_SCORE
        else:
            continue
        last = doc[_grow(doc, ent.start, ent.end, skip) - 1]
        out.append((ent.start_char, last.idx + len(last), score))
    return out


def _name_shaped(ent, skip: frozenset[str]) -> bool:
    """One to three capitalised alphabetic words, none a stop word or a banking or company word."""
    return len(ent) <= 3 and all(t.is_alpha and t.text[0].isupper() and base(t.text) not in skip for t in ent)


def _beside_a_name(ents: list, k: int) -> bool:
    """Entity k touches a PERSON entity (only whitespace between): "JORGE" (ORG) "MOREAU" (PERSON)."""
    near = ents[max(0, k - 1) : k] + ents[k + 1 : k + 2]
    return any(e.label_ in _NAME_LABELS and (e.end == ents[k].start or e.start == ents[k].end) for e in near)


def _grow(doc, start: int, end: int, skip: frozenset[str]) -> int:
    """Token index just past the name at doc[start:end], grown over hyphenated parts ("Jin" + "-woo") and further
    capitalised words that are not stop, banking or company words ("Park")."""
    while end < len(doc) and end - start < _LONGEST_NAME:
        token, before = doc[end], doc[end - 1]
        joined = token.text in "-'’" and not before.whitespace_ and not token.whitespace_
        if joined and end + 1 < len(doc) and doc[end + 1].is_alpha:
            end += 2
        elif before.whitespace_ and token.is_alpha and token.text[0].isupper() and base(token.text) not in skip:
            end += 1
        else:
            break
    return end
