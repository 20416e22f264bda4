from teller.taxonomy import load_taxonomy
from tests.conftest import BANKING77, CFPB, sample_rows, write_csv
from training.corpus import DataConfig, build_corpus, corpus_fingerprint, dedup_key, encoder_rows, split_of
from training.data import Example


def test_split_is_deterministic_and_near_duplicates_land_together():
    a = "I was charged a late fee of $35 on 03/04/2021 even though I paid on time. Please refund it."
    near = "i was charged a LATE fee of $40 on XX/XX/XXXX even though I paid on time!! please refund it"
    assert dedup_key(a) == dedup_key(near)
    assert split_of(a, 0.1, 0.15) == split_of(near, 0.1, 0.15) == split_of(a, 0.1, 0.15)


def test_split_fractions_are_roughly_respected():
    words = ["fee", "loan", "card", "late", "bank", "debt", "report", "score", "wire", "check", "limit", "rate"]
    texts = [f"{a} {b} {c} {d}" for a in words for b in words for c in words for d in words[:2]]
    counts = {s: 0 for s in ("train", "val", "test")}
    for t in texts:
        counts[split_of(t, 0.1, 0.15)] += 1
    assert 0.10 < counts["test"] / len(texts) < 0.20
    assert 0.06 < counts["val"] / len(texts) < 0.14


def test_corpus_has_no_leakage_and_a_stable_fingerprint(tmp_path, data_dir):
    header, rows = sample_rows(CFPB, 150)
    rows += [dict(r) for r in rows[:20]]  # exact duplicates
    rows += [
        {**r, "Consumer complaint narrative": r["Consumer complaint narrative"].upper() + " !!"} for r in rows[20:40]
    ]
    cfpb = write_csv(tmp_path / "c.csv", header, rows)
    bheader, queries = sample_rows(BANKING77, 200)
    banking = write_csv(tmp_path / "b.csv", bheader, queries)
    config = DataConfig(cfpb=cfpb, banking77=banking, clinc150=None)
    corpus = build_corpus(config, load_taxonomy())
    keys = {name: {dedup_key(e.text) for e in rows} for name, rows in corpus.splits.items()}
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"] and not keys["val"] & keys["test"]
    texts = [e.text for rows in corpus.splits.values() for e in rows]
    assert len(texts) == len(set(texts)), "exact duplicates are dropped"
    again = build_corpus(config, load_taxonomy())
    assert again.fingerprint["sha256"] == corpus.fingerprint["sha256"]
    counts = corpus.fingerprint["counts"]
    assert sum(c["sources"].get("banking77", 0) for c in counts.values()) == 200
    assert corpus.distributions["team"]["after"]
    corpus.save(tmp_path / "saved")
    assert corpus_fingerprint(type(corpus).load(tmp_path / "saved").splits)["sha256"] == corpus.fingerprint["sha256"]


def test_fingerprint_changes_with_content():
    a = {"train": [Example("one", "cfpb", team="credit_card")], "val": [], "test": []}
    b = {"train": [Example("one", "cfpb", team="debt_collection")], "val": [], "test": []}
    assert corpus_fingerprint(a)["sha256"] != corpus_fingerprint(b)["sha256"]


def test_the_encoder_reads_corrections_first_then_a_fixed_subset_of_complaints_and_every_query():
    rows = [Example(f"complaint {i}", "cfpb", team="credit_card") for i in range(5)]
    queries = [Example("card lost", "banking77", intent="lost_or_stolen_card"), Example("hi", "clinc150")]
    train = rows + queries
    assert encoder_rows(train, None) == train
    assert encoder_rows(train, 2) == [*rows[:2], *queries]


def test_corrections_come_before_the_base_complaints_they_did_not_replace(tmp_path, data_dir):
    header, rows = sample_rows(CFPB, 80)
    rows = [r for r in rows if r["Consumer complaint narrative"].strip()]
    train_rows = [r for r in rows if split_of(r["Consumer complaint narrative"], 0.10, 0.15) == "train"]
    corrected = [r | {"Product": "Mortgage"} for r in train_rows[-3:]]
    config = DataConfig(
        cfpb=write_csv(tmp_path / "c.csv", header, rows),
        banking77=None,
        clinc150=None,
        corrections=write_csv(tmp_path / "fix.csv", header, corrected),
        max_chars=300,
    )
    train = build_corpus(config, load_taxonomy()).splits["train"]
    first = encoder_rows(train, 3)
    assert {e.raw["Complaint ID"] for e in first} == {r["Complaint ID"] for r in corrected}
    assert {e.team for e in first} == {"loans_mortgages"}
    assert len(train) == len(train_rows)
