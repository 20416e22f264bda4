"""Rebuild calibration.jsonl and eval.jsonl from the paraphrase set and CLINC150's out-of-scope queries.

Paraphrases alternate between the two files (odd lines calibrate, even lines evaluate); CLINC150's
`oos_train` queries join the calibration set and its `oos_val` queries the evaluation set, as must-abstain.
Run from the repository root: python rag/evalsets/make_sets.py [path/to/clinc150/data_train_val.json]
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
clinc = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parents[2] / "shared/data/clinc150/data_train_val.json")
paraphrases = [json.loads(line) for line in (HERE / "ask_cfpb_paraphrases.jsonl").read_text().splitlines()]
oos = json.loads(clinc.read_text())
for name, parity, split in (("calibration", 1, "oos_train"), ("eval", 0, "oos_val")):
    rows = [
        {"question": p["question"], "expected_ids": p["expected_ids"]}
        for i, p in enumerate(paraphrases)
        if i % 2 == parity
    ]
    rows += [{"question": text, "expected": "none", "source": f"clinc150:{split}"} for text, _ in oos[split]]
    (HERE / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(name, len(rows))
