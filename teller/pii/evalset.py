"""A seeded PII evaluation set: complaint- and chat-style sentences with synthetic PII and labelled character spans.

The sentences imitate CFPB narratives (whose own PII is already redacted to XXXX) with invented names, numbers and
addresses in their place. `python -m teller.pii.evalset` rewrites ``evalset.jsonl`` from the seed; a test checks that
the committed file is exactly what the seed produces.
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from itertools import cycle
from pathlib import Path

SEED = 20240611
SIZE = 300
EVALSET_PATH = Path(__file__).with_name("evalset.jsonl")
ENTITIES = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "US_ITIN",
    "IBAN_CODE",
    "US_BANK_NUMBER",
    "STREET_ADDRESS",
)
# SSN-shaped numbers Presidio's validator rejects (published samples, never-issued areas); a bank masks them anyway.
REJECTED_SSNS = ("078-05-1120", "123-45-6789", "219-09-9999", "987-65-4320", "666-24-1357", "000-52-7781")


@dataclass(frozen=True)
class GoldSpan:
    """One labelled PII span: text[start:end] == value."""

    start: int
    end: int
    entity: str
    value: str


@dataclass(frozen=True)
class Example:
    """One evaluation sentence and its PII spans."""

    id: str
    kind: str
    text: str
    spans: tuple[GoldSpan, ...]


FIRST = (
    "James", "Maria", "Oluwaseun", "Priya", "Wei", "Fatima", "Diego", "Hannah", "Tyrone", "Mei", "Giovanni",
    "Aisha", "Kenji", "Rosa", "Dmitri", "Chloe", "Mohammed", "Svetlana", "Darnell", "Ingrid", "Rahul", "Beatriz",
    "Connor", "Yolanda", "Tomasz", "Keisha", "Hiroshi", "Lucia", "Emeka", "Brittany", "Linh", "Marguerite",
    "Santiago", "Latoya", "Olivia", "Abdul", "Gretchen", "Minh", "Esperanza", "Patrick", "Shanice", "Jorge",
    "Ayesha", "Raymond", "Thandiwe", "Krzysztof", "Elena", "Jamal", "Carmen", "Douglas",
)  # fmt: skip
LAST = (
    "Smith", "Garcia", "Adebayo", "Patel", "Zhang", "Okafor", "Hernandez", "Whitfield", "Washington", "Nakamura",
    "Rossi", "O'Connor", "Kowalczyk", "Nguyen", "Abernathy", "Jackson", "Castillo", "Lindqvist", "Chaudhry",
    "Moreau", "Thompson", "Delacroix", "Ivanova", "Mensah", "Brennan", "Yamamoto", "Fitzgerald", "Alvarez",
    "Robinson", "Haddad", "Kim", "Novak", "Okonkwo", "Ramirez", "Sullivan", "Acheampong", "Bergstrom", "Dubois",
    "McAllister", "Tran", "Adebayo-Price", "Villanueva", "Goldberg", "Hughes", "Singh", "Petrovic", "Coleman",
    "Oyelaran", "Marchetti", "Walsh",
)  # fmt: skip
BANKS = (
    "Wells Fargo", "Chase", "Bank of America", "Capital One", "Citibank", "Synchrony", "Navient", "PNC",
    "US Bank", "Discover", "TD Bank", "Santander", "Ally Bank", "Regions",
)  # fmt: skip
COMPANIES = ("Equifax", "Experian", "TransUnion", "Portfolio Recovery", "Midland Credit", "LVNV Funding", "PayPal")
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net")
AREA_CODES = ("212", "415", "646", "312", "713", "305", "404", "617", "206", "503", "702", "919", "615", "480", "214")
STREETS = (
    "Maple", "Oak", "Elm", "Washington", "Lake", "Hillcrest", "Park", "Cedar", "Pine", "Sunset", "Main", "Church",
    "Highland", "Jefferson", "Willow Creek", "Martin Luther King Jr", "Magnolia", "Riverside", "Lincoln", "Cherry",
)  # fmt: skip
SUFFIXES = (
    "Street", "St", "Avenue", "Ave", "Road", "Rd", "Boulevard", "Blvd", "Lane", "Ln", "Drive", "Dr", "Court",
    "Way", "Place",
)  # fmt: skip
CITIES = (
    ("Springfield", "IL"), ("Columbus", "OH"), ("San Antonio", "TX"), ("Fort Lauderdale", "FL"), ("Albany", "NY"),
    ("Tacoma", "WA"), ("Raleigh", "NC"), ("Phoenix", "AZ"), ("Grand Rapids", "MI"), ("Baton Rouge", "LA"),
)  # fmt: skip
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October")

# kind -> templates. {ENTITY} or {ENTITY:variant} is a PII slot; {bank}, {company}, {amount}, {date} are fillers.
# A template starting with "^" is written in capitals, as many CFPB narratives are.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "person": (
        "On {date} I called {bank} and spoke with a representative named {PERSON}, who told me the late fee would"
        " be reversed, but it never was.",
        "My name is {PERSON} and I have been a customer of {bank} for over ten years.",
        "{PERSON}, a supervisor in the fraud department, promised to call me back within 48 hours and never did.",
        "I am filing this complaint on behalf of my parent, {PERSON}, who is 84 years old and lives on a fixed income.",
        "The collector, who identified himself as {PERSON}, threatened to garnish my wages if I did not pay"
        " {amount} today.",
        "I spoke to Mr. {PERSON:last} in the loss mitigation department on {date} and he confirmed my modification"
        " was approved.",
        "Please remove this inquiry from my credit report immediately. Sincerely, {PERSON}",
        "My late spouse {PERSON} had a joint account with me at {bank}, and after they passed the bank froze all of"
        " our funds.",
        "I'm {PERSON} and I never authorized this transaction.",
        "Ms. {PERSON:last} from the escrow team told me the payment was applied to the wrong loan.",
        "A man named {PERSON} came to my door claiming to work for {company}.",
        "{PERSON} opened a credit card in my name without my permission while we were roommates.",
        "I asked to speak with a manager and {PERSON} said there was nothing they could do.",
        "The account was opened by my ex-spouse {PERSON} while we were separated.",
        "^My name is {PERSON} and I have disputed this debt three times with no response.",
        "hi this is {PERSON:lower}, i need help with my debit card",
        "The check was made out to {PERSON:upper} instead of me, and {bank} cashed it anyway.",
    ),
    "email": (
        "You can reach me at {EMAIL_ADDRESS} during business hours.",
        "I sent the dispute letter and all supporting documents by email to {EMAIL_ADDRESS} on {date}.",
        "They changed the email on my account to {EMAIL_ADDRESS}, which is not mine, and then changed my password.",
        "pls email me at {EMAIL_ADDRESS} i cant log in to the app",
        "All of my correspondence with {bank} went to {EMAIL_ADDRESS} and they claim they never received it.",
    ),
    "phone": (
        "The collection agency keeps calling my cell phone at {PHONE_NUMBER} several times a day, even after I"
        " asked them to stop.",
        "I received a text from {PHONE_NUMBER} asking me to confirm my account, and then {amount} was withdrawn.",
        "My phone number on file is {PHONE_NUMBER}; please call me back.",
        "I called customer service at {PHONE_NUMBER} and waited on hold for two hours.",
        "{company} robocalls my work line {PHONE_NUMBER} every morning.",
    ),
    "card": (
        "I disputed a charge of {amount} on my credit card {CREDIT_CARD} and {bank} denied the claim without"
        " investigating.",
        "Someone used my debit card number {CREDIT_CARD} to make purchases online that I did not authorize.",
        "My replacement card {CREDIT_CARD} was mailed to an address I have never lived at.",
        "card number {CREDIT_CARD} was charged twice for the same purchase",
        "The merchant refunded {amount} to {CREDIT_CARD}, a card that was closed last year.",
    ),
    "ssn": (
        "Someone opened an account using my social security number {US_SSN} and now it shows up on my credit report.",
        "The representative asked me to read my full SSN, {US_SSN}, over the phone, which I was not comfortable doing.",
        "My SSN is {US_SSN} and my date of birth is {date}.",
        "The credit report lists a social security number {US_SSN} that is not mine, mixed into my file.",
        "They sent my Social Security number ({US_SSN}) in a plain-text email to the wrong person.",
        "my ssn is {US_SSN:bare} can you check if someone used it",
    ),
    "itin": (
        "I applied for a secured card with my ITIN {US_ITIN} because I do not have a social security number, and"
        " they rejected me.",
        "The bank refused to open a savings account with my individual taxpayer identification number, {US_ITIN}.",
        "My ITIN {US_ITIN} was entered incorrectly on the loan application.",
    ),
    "iban": (
        "I sent a wire of {amount} to IBAN {IBAN_CODE} for my tuition abroad, and the funds never arrived.",
        "The recipient account is {IBAN_CODE}; {bank} says the transfer was returned but I never got the money back.",
        "please cancel the international transfer to {IBAN_CODE}",
    ),
    "bank": (
        "My checking account number is {US_BANK_NUMBER} and the bank closed it without any notice.",
        "They withdrew {amount} from my savings account {US_BANK_NUMBER} without authorization.",
        "The payment was supposed to come out of account {US_BANK_NUMBER}, but it was taken from my other account.",
        "I gave them my bank account number {US_BANK_NUMBER} to set up autopay.",
    ),
    "address": (
        "Please send all correspondence to my new address, {STREET_ADDRESS}, not the old one.",
        "I moved to {STREET_ADDRESS} in 2021 and updated my address, but statements still go to my old apartment.",
        "The repo company took my car from the driveway at {STREET_ADDRESS} without any notice.",
        "My mailing address is {STREET_ADDRESS}.",
    ),
    "multi": (
        "My name is {PERSON}, my account number is {US_BANK_NUMBER}, and you can call me at {PHONE_NUMBER}.",
        "Account holder: {PERSON}, SSN {US_SSN}, address {STREET_ADDRESS}.",
        "I, {PERSON}, of {STREET_ADDRESS}, dispute the following account reported by {company}.",
        "Contact me at {EMAIL_ADDRESS} or {PHONE_NUMBER} about card {CREDIT_CARD}.",
        "The letter from {company} was addressed to {PERSON} at {STREET_ADDRESS}, but I have never lived there.",
    ),
    "none": (
        "I was charged a {amount} overdraft fee on {date} even though my balance was positive.",
        "I disputed the late payment with {company} under Section 611 of the FCRA, and they have not responded"
        " after 30 days.",
        "The interest rate on my card went from 3.5% to 24.99% without notice.",
        "I paid {amount} on {date} and again two weeks later, but both payments were marked late.",
        "My complaint number is 230615-1234 and nobody from {bank} has followed up.",
    ),
}
_SLOT = re.compile(r"\{([A-Za-z_]+)(?::(\w+))?\}")


def generate(seed: int = SEED, size: int = SIZE) -> list[Example]:
    """`size` sentences, kinds taken in turn, templates and values drawn from a generator seeded with `seed`."""
    rng = random.Random(seed)
    kinds = list(TEMPLATES)
    values = {**_VALUES, "US_SSN": partial(_ssn, samples=cycle(REJECTED_SSNS))}  # each rejected sample appears
    out = []
    for i in range(size):
        kind = kinds[i % len(kinds)]
        text, spans = _fill(rng.choice(TEMPLATES[kind]), rng, values)
        out.append(Example(f"pii-{i:04d}", kind, text, tuple(spans)))
    return out


def _fill(template: str, rng: random.Random, values: dict[str, Callable]) -> tuple[str, list[GoldSpan]]:
    upper = template.startswith("^")
    template = template.removeprefix("^")
    parts: list[str] = []
    spans = []
    cursor = 0
    for match in _SLOT.finditer(template):
        parts.append(template[cursor : match.start()])
        name, variant = match.group(1), match.group(2) or ""
        value = values[name](rng, variant)
        value = value.upper() if upper else value
        if name in ENTITIES:
            start = sum(map(len, parts))
            spans.append(GoldSpan(start, start + len(value), name, value))
        parts.append(value)
        cursor = match.end()
    parts.append(template[cursor:])
    text = "".join(parts)
    if upper:  # upper-casing keeps offsets: every character in these lists maps to one capital
        text = text.upper()
    return text, spans


def _person(rng: random.Random, variant: str) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    if variant == "last":
        return last
    name = f"{first} {rng.choice(string.ascii_uppercase)}. {last}" if rng.random() < 0.15 else f"{first} {last}"
    return {"lower": name.lower(), "upper": name.upper()}.get(variant, name)


def _email(rng: random.Random, _variant: str) -> str:
    first, last = rng.choice(FIRST).lower(), rng.choice(LAST).lower().replace("'", "")
    local = rng.choice((f"{first}.{last}", f"{first[0]}{last}{rng.randint(1, 99)}", f"{last}_{first}"))
    return f"{local}@{rng.choice(DOMAINS)}"


def _phone(rng: random.Random, _variant: str) -> str:
    area = rng.choice(AREA_CODES)
    exchange, line = ("555", f"01{rng.randint(0, 99):02d}") if rng.random() < 0.5 else _exchange_line(rng)
    style = rng.randrange(8)
    if style == 7:
        return f"1-{rng.choice(('800', '888', '877'))}-{exchange}-{line}"
    return (
        f"({area}) {exchange}-{line}",
        f"{area}-{exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"{area} {exchange} {line}",
        f"+1 {area} {exchange} {line}",
        f"{area}{exchange}{line}",
        f"+1 ({area}) {exchange}-{line}",
    )[style]


def _exchange_line(rng: random.Random) -> tuple[str, str]:
    exchange = f"{rng.randint(2, 9)}{rng.randint(0, 9)}{rng.randint(0, 9)}"
    return ("556" if exchange == "555" else exchange), f"{rng.randint(0, 9999):04d}"


def _card(rng: random.Random, _variant: str) -> str:
    prefix, length = rng.choice(
        (("4", 16), ("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15), ("37", 15), ("6011", 16))
    )
    digits = prefix + "".join(str(rng.randint(0, 9)) for _ in range(length - len(prefix) - 1))
    digits += str(luhn_check_digit(digits))
    groups = (4, 6, 5) if length == 15 else (4, 4, 4, 4)
    sep = rng.choice((" ", " ", "-", ""))
    chunks, at = [], 0
    for size in groups:
        chunks.append(digits[at : at + size])
        at += size
    return sep.join(chunks)


def luhn_check_digit(payload: str) -> int:
    """The digit that makes payload + digit pass the Luhn check."""
    total = 0
    for i, char in enumerate(reversed(payload)):
        d = int(char) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def _ssn(rng: random.Random, variant: str, samples: Iterator[str] | None = None) -> str:
    if variant != "bare" and rng.random() < 0.3:
        return next(samples) if samples else REJECTED_SSNS[0]
    area = rng.choice([a for a in range(1, 900) if a != 666])
    number = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
    if variant == "bare":
        return number
    sep = rng.choice(("-", "-", "-", " "))
    return f"{number[:3]}{sep}{number[3:5]}{sep}{number[5:]}"


def _itin(rng: random.Random, _variant: str) -> str:
    group = rng.choice([*range(50, 66), *range(70, 89), *range(90, 93), *range(94, 100)])
    sep = rng.choice(("-", "-", " "))
    return f"9{rng.randint(0, 99):02d}{sep}{group:02d}{sep}{rng.randint(0, 9999):04d}"


def _iban(rng: random.Random, _variant: str) -> str:
    country, shape = rng.choice((("DE", "n18"), ("GB", "a4n14"), ("FR", "n10c11n2"), ("NL", "a4n10"), ("ES", "n20")))
    bban = ""
    for kind, count in re.findall(r"([anc])(\d+)", shape):
        alphabet = {"a": string.ascii_uppercase, "n": string.digits, "c": string.ascii_uppercase + string.digits}
        bban += "".join(rng.choice(alphabet[kind]) for _ in range(int(count)))
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    iban = f"{country}{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if rng.random() < 0.4 else iban


def _bank_number(rng: random.Random, _variant: str) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(rng.randint(8, 17)))


def _address(rng: random.Random, _variant: str) -> str:
    if rng.random() < 0.1:
        city, state = rng.choice(CITIES)
        return f"P.O. Box {rng.randint(10, 99999)}, {city}, {state} {rng.randint(10000, 99999)}"
    direction = rng.choice(("", "", "", "N ", "W. ", "South "))
    street = f"{rng.randint(1, 19999)} {direction}{rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
    if rng.random() < 0.3:
        street += rng.choice((f" Apt {rng.randint(1, 40)}{rng.choice('ABCD')}", f", Unit {rng.randint(1, 300)}"))
    if rng.random() < 0.6:
        city, state = rng.choice(CITIES)
        zip_code = f"{rng.randint(10000, 99999)}" + (f"-{rng.randint(1000, 9999)}" if rng.random() < 0.2 else "")
        street += f", {city}, {state} {zip_code}"
    return street


def _date(rng: random.Random, _variant: str) -> str:
    month = rng.randint(1, 10)
    day = rng.randint(1, 28)
    return rng.choice((f"{MONTHS[month - 1]} {day}, 2023", f"{month:02d}/{day:02d}/2023"))


_VALUES = {
    "PERSON": _person,
    "EMAIL_ADDRESS": _email,
    "PHONE_NUMBER": _phone,
    "CREDIT_CARD": _card,
    "US_SSN": _ssn,
    "US_ITIN": _itin,
    "IBAN_CODE": _iban,
    "US_BANK_NUMBER": _bank_number,
    "STREET_ADDRESS": _address,
    "bank": lambda rng, _v: rng.choice(BANKS),
    "company": lambda rng, _v: rng.choice(COMPANIES),
    "amount": lambda rng, _v: f"${rng.randint(20, 4000)}.{rng.randint(0, 99):02d}",
    "date": _date,
}


def to_jsonl(examples: list[Example]) -> str:
    """One JSON object per line, spans as dicts."""
    return "".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in examples)


def load(path: Path = EVALSET_PATH) -> list[Example]:
    """The committed evaluation set."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        spans = tuple(GoldSpan(**s) for s in row["spans"])
        out.append(Example(row["id"], row["kind"], row["text"], spans))
    return out


if __name__ == "__main__":  # pragma: no cover - regenerates the committed file
    EVALSET_PATH.write_text(to_jsonl(generate()), encoding="utf-8")
    sys.stdout.write(f"wrote {SIZE} examples to {EVALSET_PATH}\n")
