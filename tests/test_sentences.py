"""SentenceSplitter: the cases LLM text throws at it, fed whole, char by char and split anyhow."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsstream import SentenceSplitter


def whole(text: str, **options: int) -> list[str]:
    splitter = SentenceSplitter(**options)
    return [*splitter.feed(text), *splitter.flush()]


def char_by_char(text: str, **options: int) -> list[str]:
    splitter = SentenceSplitter(**options)
    out: list[str] = []
    for ch in text:
        out += splitter.feed(ch)
    return out + splitter.flush()


CASES = [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("It costs 3.5 dollars. Cheap!", ["It costs 3.5 dollars.", "Cheap!"]),
    ("Pi is 3.14159 or so. Next.", ["Pi is 3.14159 or so.", "Next."]),
    ("Dr. Smith met Mr. Jones. They talked.", ["Dr. Smith met Mr. Jones.", "They talked."]),
    ("Fruits, e.g. apples, are good. Yes.", ["Fruits, e.g. apples, are good.", "Yes."]),
    ("That is, i.e. The point. Ok.", ["That is, i.e. The point.", "Ok."]),
    ("The U.S. Army is big. Really.", ["The U.S. Army is big.", "Really."]),
    ("J. R. R. Tolkien wrote it. Good.", ["J. R. R. Tolkien wrote it.", "Good."]),
    ("Apples, pears, etc. Then more.", ["Apples, pears, etc.", "Then more."]),
    ("Wait... what? Then... Silence.", ["Wait... what?", "Then...", "Silence."]),
    ("Hmm\u2026 Okay.", ["Hmm\u2026", "Okay."]),
    (
        "See https://example.com/a.b?x=1. Next one.",
        ["See https://example.com/a.b?x=1.", "Next one."],
    ),
    ("Visit www.python.org today. Done.", ["Visit www.python.org today.", "Done."]),
    ("I said one.Two starts here.", ["I said one.", "Two starts here."]),
    ("Node.JS and U.S.A stay.", ["Node.JS and U.S.A stay."]),
    ('"Stop!" she said. He stopped.', ['"Stop!" she said.', "He stopped."]),
    ('He said "go." Then left.', ['He said "go."', "Then left."]),
    ("(This is aside.) Main text.", ["(This is aside.)", "Main text."]),
    ("Really?! Yes!!", ["Really?!", "Yes!!"]),
    ("Version 2.0 shipped. 2024 was good.", ["Version 2.0 shipped.", "2024 was good."]),
    ("Items:\n- one\n- two\n\nEnd", ["Items:", "- one", "- two", "End"]),
    ("Steps:\n1. Mix it.\n2. Bake it.", ["Steps:", "1. Mix it.", "2. Bake it."]),
    ("Line one\nLine two", ["Line one", "Line two"]),
    ("\u4f60\u597d\u3002\u518d\u89c1\uff01", ["\u4f60\u597d\u3002", "\u518d\u89c1\uff01"]),
    ("  leading space. ", ["leading space."]),
    ("...", []),
    ("- \n* \n", []),
    ("", []),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cases_whole(text: str, expected: list[str]) -> None:
    assert whole(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cases_char_by_char(text: str, expected: list[str]) -> None:
    assert char_by_char(text) == expected


def test_sentences_are_released_as_soon_as_the_next_word_starts() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Hello there.") == []  # "3.5"? "Dr."? not known yet
    assert splitter.feed(" ") == []
    assert splitter.feed("H") == ["Hello there."]
    assert splitter.pending == "H"


def test_decimal_is_not_cut_while_waiting_for_its_digits() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It is 3.") == []
    assert splitter.feed("5 now. ") == []
    assert splitter.feed("Ok") == ["It is 3.5 now."]


def test_first_fragment_ends_at_a_clause_once_long_enough() -> None:
    text = "Well, this first sentence goes on, and on, for a while. Then, a second one."
    assert whole(text, first_min_chars=20) == [
        "Well, this first sentence goes on,",
        "and on, for a while.",
        "Then, a second one.",
    ]
    assert whole(text) == [
        "Well, this first sentence goes on, and on, for a while.",
        "Then, a second one.",
    ]


def test_first_fragment_ignores_commas_in_numbers() -> None:
    assert whole("We sold 1,000,000 copies of it, which is a lot.", first_min_chars=10) == [
        "We sold 1,000,000 copies of it,",
        "which is a lot.",
    ]


def test_dash_clause_for_the_first_fragment() -> None:
    text = "The answer to your question \u2014 as far as I know \u2014 is yes."
    assert whole(text, first_min_chars=20) == [
        "The answer to your question \u2014",
        "as far as I know \u2014 is yes.",
    ]


def test_long_sentences_are_cut_under_the_limit_at_clauses_then_spaces() -> None:
    text = "alpha beta gamma, delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron."
    pieces = whole(text, max_chars=30)
    assert all(len(p) <= 30 for p in pieces)
    assert pieces[0] == "alpha beta gamma,"
    assert " ".join(pieces) == text


def test_a_word_longer_than_the_limit_is_cut_anyway() -> None:
    pieces = whole("x" * 25, max_chars=10)
    assert pieces == ["x" * 10, "x" * 10, "x" * 5]


def test_flush_clause_releases_up_to_the_last_clause_mark() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Well, I think, that") == []
    assert splitter.flush_clause() == ["Well, I think,"]
    assert splitter.pending == "that"
    assert splitter.flush_clause() == []
    assert splitter.feed(" is right.") == []
    assert splitter.flush_clause() == ["that is right."]
    assert splitter.flush() == []


def test_flush_clause_releases_a_sentence_waiting_for_its_next_word() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Done.") == []
    assert splitter.flush_clause() == ["Done."]


def test_a_glued_capital_at_the_very_end_is_not_a_sentence() -> None:
    assert whole("I live in the U.S.A") == ["I live in the U.S.A"]
    assert whole("Try Node.J") == ["Try Node.J"]


def test_endless_punctuation_or_space_is_not_held_whole() -> None:
    splitter = SentenceSplitter()
    out: list[str] = []
    for ch in "Hi." + " " * 5000 + "." * 5000 + "Bye":
        out += splitter.feed(ch)
        assert len(splitter.pending) < 200
    out += splitter.flush()
    assert out[0] == "Hi."
    assert out[1:] == [out[-1]]
    assert out[-1].endswith("...Bye")  # the dots are cut off in runs; the words all come out


def test_invalid_limit() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        SentenceSplitter(max_chars=1)


# Text built from the pieces that make splitting hard, so random splits hit the hard spots.
_ATOMS = st.sampled_from(
    [
        "Hello", "world", "Dr.", "e.g.", "U.S.", "3.5", "1,000", "etc.", "...", "\u2026", ".",
        "!", "?", "?!", ",", ";", ":", " \u2014 ", '"', "'", ")", "(", " ", " ", " ", "\n",
        "\n\n", "- ", "1. ", "one.Two", "https://x.org/a.b", "A", "b", "\u3002", "." * 70,
        " " * 70,
    ]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    atoms=st.lists(_ATOMS, max_size=40),
    data=st.data(),
    first_min_chars=st.sampled_from([0, 8]),
    max_chars=st.sampled_from([12, 4096]),
)
def test_same_sentences_for_any_split(
    atoms: list[str], data: st.DataObject, first_min_chars: int, max_chars: int
) -> None:
    text = "".join(atoms)
    options = {"first_min_chars": first_min_chars, "max_chars": max_chars}
    expected = whole(text, **options)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=10)))
    splitter = SentenceSplitter(**options)
    got: list[str] = []
    for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True):
        got += splitter.feed(text[a:b])
    got += splitter.flush()
    assert got == expected
    assert all(len(s) <= max_chars for s in got)
    # Nothing worth saying is lost: every letter and digit comes out, in order.
    assert [c for c in "".join(got) if c.isalnum()] == [c for c in text if c.isalnum()]
