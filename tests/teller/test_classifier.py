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
    for t, row in zip(teams.argmax(1), issues, strict=True):
        assert (row[mask[t] == 0] == 0).all()


@pytest.mark.parametrize("weight", [0.0, 0.3])
def test_pool_leaves_heads_without_a_weight_alone(weight):
    z = {"intent": np.array([[2.0, 0.0, -1.0]])}
    lexical = {"intent": np.log(np.array([[0.2, 0.3, 0.5]]))}
    pooled = pool(z, lexical, {"intent": weight})["intent"]
    assert np.allclose(pooled, softmax(z["intent"])) == (weight == 0.0)
