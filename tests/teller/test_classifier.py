"""The bundle runtime's pieces: head+tail truncation, the log-linear pool and the joint team-issue decision."""

import numpy as np
import pytest

from teller.classifier import decide_jointly, head_tail, pool, softmax


def test_head_tail_keeps_cls_and_sep_and_the_end_of_long_texts():
    ids = [101, *range(1, 21), 102]  # [CLS] 1..20 [SEP]
    assert head_tail(ids, 30, 4) == ids  # short texts are untouched
    assert head_tail(ids, 8) == [101, 1, 2, 3, 4, 5, 6, 102]  # head only, as the tokenizer truncates
    cut = head_tail(ids, 8, 3)
    assert cut == [101, 1, 2, 3, 4, 19, 20, 102] and len(cut) == 8


def test_pool_moves_towards_the_lexical_model_by_its_weight():
    encoder = {"team": np.log(np.array([[0.7, 0.3]])), "issue": np.log(np.array([[0.6, 0.4]]))}
    lexical = {"team": np.log(np.array([[0.1, 0.9]]))}
    alone = pool(encoder, lexical, {})
    assert np.allclose(alone["team"], [[0.7, 0.3]])
    half = pool(encoder, lexical, {"team": 0.5})["team"][0]
    expected = np.sqrt([0.7 * 0.1, 0.3 * 0.9])
    assert np.allclose(half, expected / expected.sum())
    assert np.allclose(pool(encoder, lexical, {"team": 1.0})["team"], [[0.1, 0.9]])
    assert np.allclose(half.sum(), 1.0) and np.allclose(alone["issue"], [[0.6, 0.4]])


def test_joint_decision_picks_the_best_allowed_pair_and_never_an_issue_the_team_cannot_carry():
    mask = np.array([[1, 1, 0, 1], [0, 0, 1, 1]], dtype=np.float32)  # last issue = Other, valid for both
    team = np.array([[0.8, 0.2], [0.3, 0.7], [0.55, 0.45]])
    issue = np.array([[0.1, 0.3, 0.5, 0.1], [0.6, 0.1, 0.2, 0.1], [0.05, 0.05, 0.85, 0.05]])
    teams, issues = decide_jointly(team, issue, mask)
    # row 0: team 0 (0.8 x 0.3) beats team 1 (0.2 x 0.5); row 1: team 1 with issue 2 (0.7 x 0.2 < 0.3 x 0.6)
    # flips to team 0; row 2: a confident issue of team 1 outweighs a slight lead of team 0.
    assert teams.argmax(1).tolist() == [0, 0, 1] and issues.argmax(1).tolist() == [1, 0, 2]
    assert np.allclose(teams.sum(1), 1.0) and np.allclose(issues.sum(1), 1.0)
    assert all(mask[t, i] for t, i in zip(teams.argmax(1), issues.argmax(1), strict=True))
    # Runner-up issues are ranked by their best pair, whichever team carries it: in row 0, team 1's issue 2
    # (0.2 x 0.5) comes second, ahead of team 0's issue 0 (0.8 x 0.1).
    assert np.argsort(-issues[0])[:2].tolist() == [1, 2]


@pytest.mark.parametrize("weight", [0.0, 0.3])
def test_pool_leaves_heads_without_a_weight_alone(weight):
    z = {"intent": np.array([[2.0, 0.0, -1.0]])}
    lexical = {"intent": np.log(np.array([[0.2, 0.3, 0.5]]))}
    pooled = pool(z, lexical, {"intent": weight})["intent"]
    assert np.allclose(pooled, softmax(z["intent"])) == (weight == 0.0)


def test_encode_tokenises_only_the_head_a_bundle_reads_and_gets_the_same_ids(tiny_bundle):
    from pathlib import Path

    from teller.bundle import load_bundle
    from teller.classifier import BundleClassifier
    from teller.masking import model_view
    from tests.conftest import CFPB, sample_rows

    clf = BundleClassifier(load_bundle(Path(tiny_bundle["bundle"])), "fp32")
    _, rows = sample_rows(CFPB, 400, where=lambda r: len(r["Consumer complaint narrative"]) > 800)
    texts = [r["Consumer complaint narrative"] for r in rows]
    texts += ["word " * 400, "x" * 5000, "a" * 3000 + " " + "b" * 3000, "1,2,3,4 " * 300]  # no usable cut
    max_length = clf.bundle.info.max_length
    whole = [head_tail(clf.tokenizer.encode(model_view(t)).ids, max_length) for t in texts]
    assert clf.encode(texts) == whole
    assert sum(len(ids) == max_length for ids in whole) >= 300  # long texts, actually cut
