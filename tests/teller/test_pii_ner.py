"""Where NER runs: candidate words, windows and chunk cuts (pure Python, no spaCy model)."""

from itertools import pairwise

import pytest

from teller.pii.names import skip_words
from teller.pii.ner import chunks, name_candidates, windows
from teller.pii.spans import Span, merge, replace


@pytest.fixture(scope="module")
def skip():
    return skip_words()


def _words(text, spans):
    return [text[a:b] for a, b in spans]


def test_candidates_are_capitalised_non_stop_words_and_pairs_of_capitals(skip):
    text = "I told Wells Fargo in January that Maria Garcia and the CFPB agreed; My Credit Report lists JOHN SMITH."
    assert _words(text, name_candidates(text, skip)) == ["Wells", "Maria", "Garcia", "JOHN SMITH"]


def test_shouting_texts_treat_capital_words_as_candidates(skip):
    text = "I CALLED THEM AND SPOKE TO DAVID LEE WHO HUNG UP ON ME"
    assert {"CALLED", "DAVID", "LEE"} <= set(_words(text, name_candidates(text, skip)))


def test_windows_merge_and_snap_to_whitespace():
    text = "aaaa bbbb Name cccc dddd eeee ffff gggg hhhh Other iiii"
    spans = [(text.index("Name"), text.index("Name") + 4), (text.index("Other"), text.index("Other") + 5)]
    assert windows(text, spans, 6) == [(0, 24), (35, 55)]
    assert windows(text, spans, 20) == [(0, len(text))]


def test_chunks_cut_at_sentence_ends_when_they_can():
    text = "".join(f"Sentence number {i} ends here. " for i in range(100))
    pieces = chunks(text, 0, len(text), 200, 50)
    assert all(0 < b - a <= 200 for a, b in pieces)
    assert all(text[a:b].endswith("here.") for a, b in pieces[:-1])
    last = pieces[-1]
    assert "".join(text[a:b] + " " for a, b in pieces[:-1]) + text[last[0] : last[1]] == text


def test_chunks_cut_mid_sentence_share_an_overlap_and_leave_no_gap():
    text = "word " * 2000
    pieces = chunks(text, 0, len(text), 200, 50)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(text)
    assert all(b - a <= 200 for a, b in pieces)
    for (_, end), (start, _) in pairwise(pieces):
        assert end - start >= 50  # any 50-character stretch lies whole in some piece


def test_chunks_do_not_cut_after_a_title():
    text = "x" * 150 + " Then Mr. Smith called. " + "y " * 100
    ends = [text[:b] for _, b in chunks(text, 0, len(text), 200, 50)]
    assert not any(e.endswith("Mr.") for e in ends)


def test_chunks_of_a_text_without_spaces_still_finish():
    text = "x" * 30_000
    pieces = chunks(text, 0, len(text), 1000, 100)
    assert len(pieces) < 40 and pieces[-1][1] == len(text)


def test_overlapping_spans_merge_into_one_placeholder_named_by_the_best():
    spans = merge([Span(0, 4, "PERSON", 0.85), Span(2, 9, "STREET_ADDRESS", 0.6), Span(12, 15, "US_SSN", 0.5)])
    assert spans == [Span(0, 9, "PERSON", 0.85), Span(12, 15, "US_SSN", 0.5)]
    text, counts = replace("abcdefghi - xyz!", spans)
    assert text == "<PERSON> - <US_SSN>!" and counts == {"PERSON": 1, "US_SSN": 1}
