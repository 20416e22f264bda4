"""How a running Teller's chat treats the KB evaluation set: answered vs handed off, and why (HTTP only).

Usage (with `teller serve` running): python loadtests/chat_policy.py [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import httpx

QUESTIONS = Path(__file__).resolve().parents[1] / "rag" / "evalsets" / "eval.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    args = parser.parse_args()
    outcomes: collections.Counter = collections.Counter()
    with httpx.Client(base_url=args.url, timeout=60) as http:
        for line in args.questions.read_text().splitlines():
            row = json.loads(line)
            reply = http.post("/api/chat", json={"message": row["question"]}).json()
            group = "must hand off" if row.get("expected") == "none" else "answerable"
            outcomes[group, reply["handoff_reason"] or "answered"] += 1
    print("| question group | outcome | count |\n|---|---|---|")
    for (group, outcome), count in sorted(outcomes.items()):
        print(f"| {group} | {outcome} | {count} |")


if __name__ == "__main__":
    main()
