"""The lexical ensemble member: vulnerability signals and a save/load round trip that scores like sklearn."""

import numpy as np

from teller.lexical import LexicalModel, signals
from teller.taxonomy import load_taxonomy
from tests.conftest import CFPB
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


def test_features_and_scores_are_sklearns_on_real_narratives():
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from teller.lexical import TOKEN_PATTERN
    from teller.masking import model_view
    from training.data import iter_cfpb
    from training.ensemble import linear_head

    taxonomy = load_taxonomy()
    examples = [e for _, e in zip(range(300), iter_cfpb(CFPB, taxonomy), strict=False)]
    views = [model_view(e.text) for e in examples]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, token_pattern=TOKEN_PATTERN)
    train = sparse.hstack([vectorizer.fit_transform(views[:200]), signals(views[:200])], format="csr")
    teams = [taxonomy.team_labels.index(e.team) for e in examples[:200]]
    clf = LogisticRegression(C=10, max_iter=2000).fit(train, teams)
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    model = LexicalModel(vocabulary, vectorizer.idf_, {"team": linear_head(clf, len(taxonomy.team_labels))})

    held_out = [*(e.text for e in examples[200:]), "", "XXXX XXXX", "Ünïcode wörds, a VETERAN, the the the"]
    views = [model_view(t) for t in held_out]
    expected = sparse.hstack([vectorizer.transform(views), signals(views)], format="csr").toarray()
    got = model.features(held_out).toarray()
    assert got.shape == expected.shape == (len(held_out), len(vocabulary) + 3)
    assert expected[:, : len(vocabulary)].sum() > 50 and expected[:, len(vocabulary) :].sum() >= 1  # not empty
    assert np.allclose(got, expected, atol=1e-6)
    scores = model.log_probs(held_out)["team"][:, clf.classes_]
    assert np.allclose(scores, clf.predict_log_proba(expected), atol=1e-4)
