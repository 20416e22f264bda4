"""The lexical ensemble member: vulnerability signals and a save/load round trip that scores like sklearn."""

import numpy as np

from teller.lexical import LexicalModel, signals
from teller.taxonomy import load_taxonomy
from training.data import Example
from training.ensemble import fit_lexical


def test_signals_find_stated_age_and_service_but_not_other_numbers():
    rows = signals(
        [
            "I am 78 years old and retired on a fixed income",
            "I'm 66 and they keep calling",
            "My husband is a disabled veteran with a VA loan",
            "I paid 70 dollars, 65 days late, for my 30 year old son",
        ]
    )
    assert rows.tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0]]


def _examples() -> list[Example]:
    taxonomy = load_taxonomy()
    teams = taxonomy.team_labels
    words = {t: f"{t.replace('_', ' ')} words" for t in teams}
    rows = []
    for i in range(60):
        team = teams[i % 3]
        vulnerable = int(i % 6 == 0)
        text = f"complaint {i} about {words[team]}" + (" I am 80 years old" if vulnerable else "")
        rows.append(Example(text, "cfpb", team=team, vulnerable=vulnerable))
    return rows


def test_saved_model_scores_as_the_fitted_one(tmp_path):
    model = fit_lexical(_examples(), load_taxonomy(), heads=("team", "vulnerable"))
    texts = ["a complaint about credit reporting words", "I am 81 years old, debt collection words"]
    before = model.log_probs(texts)
    model.save(tmp_path)
    after = LexicalModel.load(tmp_path).log_probs(texts)
    for head in ("team", "vulnerable"):
        assert np.allclose(np.exp(before[head]).sum(1), 1.0)
        assert np.allclose(before[head], after[head], atol=1e-2)  # weights are stored as float16
    assert before["team"].shape == (2, 5) and before["team"][0].argmax() == 0
    assert np.exp(before["team"][:, 3:]).max() < 1e-6  # teams with no training row are never predicted
    assert np.exp(before["vulnerable"][1, 1]) > np.exp(before["vulnerable"][0, 1])
