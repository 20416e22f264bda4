"""The dashboard's aggregation over audit rows: shares per version, histograms, agreement per head."""

from __future__ import annotations

from serving.dashboard import summarise
from teller.store import Allocation, Feedback, ModelStrategy


def allocation(version: str, team: str, confidence: float, vulnerable: bool = False) -> Allocation:
    return Allocation(
        model_name="teller-triage",
        model_version=version,
        team=team,
        issue="Late fee",
        vulnerable=vulnerable,
        probabilities={"team": {team: confidence, "other": 1 - confidence}},
        latency_ms=5.0,
    )


def test_shares_histogram_and_agreement():
    recent = [allocation("3", "cards", 0.95), allocation("3", "cards", 0.55, True), allocation("4", "mortgages", 1.0)]
    strategy = [
        ModelStrategy(model_name="teller-triage", model_version="3", role="champion", traffic_percent=90),
        ModelStrategy(model_name="teller-triage", model_version="5", role="canary", traffic_percent=10),
    ]
    corrections = [
        (Feedback(agent_id="a", team="cards", issue=None, vulnerable=None), recent[0]),
        (Feedback(agent_id="a", team="deposits", issue=None, vulnerable=True), recent[1]),
    ]
    board = summarise(recent, corrections, strategy)
    shares = {m.model_version: (m.role, m.traffic_percent, m.observed_share) for m in board.models}
    assert shares == {"3": ("champion", 90, 0.6667), "5": ("canary", 10, 0.0), "4": (None, None, 0.3333)}
    assert board.confidence == [0, 0, 0, 0, 0, 1, 0, 0, 0, 2] and board.vulnerable == 1
    assert board.teams == {"cards": 2, "mortgages": 1}
    heads = {a.head: (a.reviewed, a.agreed, a.rate) for a in board.agreement}
    assert heads == {"team": (2, 1, 0.5), "issue": (0, 0, None), "vulnerable": (1, 1, 1.0)}


def test_empty_store():
    board = summarise([], [], [])
    assert board.decisions == 0 and board.models == [] and board.confidence == [0] * 10
