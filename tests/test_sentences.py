"""SentenceSplitter: the cases LLM text throws at it, fed whole, char by char and split anyhow."""

from __future__ import annotations

from collections.abc import Callable

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


LONG_ELLIPSIS = (
    "I thought about it for a long time, longer than I like to admit... and then I knew."
)
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
    ("It was founded in 1999. Then it grew.", ["It was founded in 1999.", "Then it grew."]),
    ("Yes. I agree.", ["Yes.", "I agree."]),
    ("We go.Then we stop.", ["We go.", "Then we stop."]),
    ("It ends here . Next one.", ["It ends here .", "Next one."]),
    ("Visit example.com. Then leave.", ["Visit example.com.", "Then leave."]),
    ('"Dr. Smith" is here. Ok.', ['"Dr. Smith" is here.', "Ok."]),
    ("Ask X. Y. Zhang. She knows.", ["Ask X. Y. Zhang.", "She knows."]),
    (LONG_ELLIPSIS, [LONG_ELLIPSIS]),  # "... and": past 64 characters too
    # Stray punctuation before a sentence is neither said alone nor glued to the sentence.
    ("! Well. Yes.", ["Well.", "Yes."]),
    ("Fine. ! Well.", ["Fine.", "Well."]),
    # Runs of punctuation or space are cut at 64 characters.
    ("Hi" + "." * 70 + " there", ["Hi" + "." * 64, "...... there"]),
    ("Hi." + '"' * 70 + " there", ["Hi." + '"' * 63, '""""""" there']),
    ("Hi." + " " * 64 + "there", ["Hi.", "there"]),
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


@pytest.mark.parametrize("feed", [whole, char_by_char])
def test_first_fragment_ignores_commas_in_numbers(feed: Callable[..., list[str]]) -> None:
    assert feed("We sold 1,000,000 copies of it, which is a lot.", first_min_chars=10) == [
        "We sold 1,000,000 copies of it,",
        "which is a lot.",
    ]


@pytest.mark.parametrize("feed", [whole, char_by_char])
def test_dash_clause_for_the_first_fragment(feed: Callable[..., list[str]]) -> None:
    text = "The answer to your question \u2014 as far as I know \u2014 is yes."
    assert feed(text, first_min_chars=20) == [
        "The answer to your question \u2014",
        "as far as I know \u2014 is yes.",
    ]


@pytest.mark.parametrize("feed", [whole, char_by_char])
def test_a_dash_glued_to_the_word_before_is_not_a_clause(feed: Callable[..., list[str]]) -> None:
    text = "A long first part\u2014 then more text here."
    assert feed(text, first_min_chars=5) == [text]


@pytest.mark.parametrize("feed", [whole, char_by_char])
def test_first_fragment_of_exactly_first_min_chars(feed: Callable[..., list[str]]) -> None:
    assert feed("Hello, world. Again, more.", first_min_chars=5) == [
        "Hello,",
        "world.",
        "Again, more.",
    ]
    assert feed("Hi, there you go.", first_min_chars=1) == ["Hi,", "there you go."]
    assert feed("Hello, world.", first_min_chars=6) == ["Hello, world."]


def test_first_fragment_is_released_when_the_space_after_the_comma_arrives() -> None:
    splitter = SentenceSplitter(first_min_chars=5)
    assert splitter.feed("Hello,") == []  # "Hello,000"? not known yet
    assert splitter.feed(" ") == ["Hello,"]
    assert splitter.feed("world, and") == []  # only the first piece ends at a clause
    assert splitter.flush() == ["world, and"]


def test_long_sentences_are_cut_under_the_limit_at_clauses_then_spaces() -> None:
    text = "alpha beta gamma, delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron."
    pieces = whole(text, max_chars=30)
    assert all(len(p) <= 30 for p in pieces)
    assert pieces[0] == "alpha beta gamma,"
    assert " ".join(pieces) == text


def test_a_word_longer_than_the_limit_is_cut_anyway() -> None:
    pieces = whole("x" * 25, max_chars=10)
    assert pieces == ["x" * 10, "x" * 10, "x" * 5]


def test_the_default_limit_is_4096_characters() -> None:
    assert whole("x" * 5000) == ["x" * 4096, "x" * 904]


def test_the_smallest_limit_is_two() -> None:
    assert whole("abcde", max_chars=2) == ["ab", "cd", "e"]


@pytest.mark.parametrize("feed", [whole, char_by_char])
def test_a_sentence_of_exactly_the_limit_is_kept_whole(feed: Callable[..., list[str]]) -> None:
    assert feed("Hello there. Next.", max_chars=12) == ["Hello there.", "Next."]


@pytest.mark.parametrize("feed", [whole, char_by_char])
def test_punctuation_past_the_limit_is_cut_at_a_space(feed: Callable[..., list[str]]) -> None:
    assert feed("Hello there!! ", max_chars=12) == ["Hello", "there!!"]
    assert feed("Plan.B", max_chars=5) == ["Plan.", "B"]


def test_a_newline_releases_the_sentence_at_once() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Hi.\n") == ["Hi."]
    assert splitter.feed("Next line\n") == ["Next line"]
    assert splitter.pending == ""


def test_flush_empties_the_splitter() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("One. Two") == ["One."]
    assert splitter.flush() == ["Two"]
    assert splitter.pending == ""
    assert splitter.flush() == []
    assert splitter.feed("Three. ") == []
    assert splitter.flush() == ["Three."]


def test_flush_clause_releases_up_to_the_last_clause_mark() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Well, I think, that") == []
    assert splitter.flush_clause() == ["Well, I think,"]
    assert splitter.pending == "that"
    assert splitter.flush_clause() == []
    assert splitter.feed(" is right.") == []
    assert splitter.flush_clause() == ["that is right."]
    assert splitter.flush() == []


@pytest.mark.parametrize(
    "text", ["Done.", "Done. ", 'He said "go."', 'He said "go.")', 'He said "go.")  ']
)
def test_flush_clause_releases_a_sentence_waiting_for_its_next_word(text: str) -> None:
    splitter = SentenceSplitter()
    assert splitter.feed(text) == []
    assert splitter.flush_clause() == [text.strip()]
    assert splitter.pending == ""


@pytest.mark.parametrize(
    ("text", "released", "pending"),
    [
        ("Well, I think,", ["Well, I think,"], ""),  # a clause mark at the very end
        ("I, too", ["I,"], "too"),
        ("We sold 1,000 copies", [], "We sold 1,000 copies"),  # no clause in a number
        ("We sold 1,0", [], "We sold 1,0"),  # nor in half a number
        ("The answer \u2014 as I know", ["The answer \u2014"], "as I know"),
        ("Yes, a well\u2014known thing", ["Yes,"], "a well\u2014known thing"),
        ("Well, the answer\u2014 yes", ["Well,"], "the answer\u2014 yes"),
    ],
)
def test_flush_clause_cuts_only_after_a_clause_mark_and_space(
    text: str, released: list[str], pending: str
) -> None:
    splitter = SentenceSplitter()
    assert splitter.feed(text) == []
    assert splitter.flush_clause() == released
    assert splitter.pending == pending


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
