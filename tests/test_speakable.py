"""speakable() and SpeakableFilter: LLM Markdown in, speech-ready text out, however it streams."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ttsstream import SentenceSplitter, SpeakableFilter, speakable

CASES = [
    ("**bold** and __strong__ and *it* and ~~gone~~", "bold and strong and it and gone"),
    ("Call `speak()` now", "Call speak() now"),
    ("# Title\n## Sub title\nText", "Title\nSub title\nText"),
    ("#hashtag stays", "#hashtag stays"),
    ("- one\n* two\n+ three\n1. four\n2) five", "one\ntwo\nthree\nfour\nfive"),
    ("- [ ] open task\n- [x] done task", "open task\ndone task"),
    ("> quoted\n> > nested", "quoted\nnested"),
    ("Above\n---\nBelow", "Above\n\nBelow"),
    ("Read [the docs](https://docs.example.com/x) first.", "Read the docs first."),
    ("An ![diagram](img.png) here", "An  here"),
    ("Go to https://www.python.org/downloads/. Then run it.", "Go to python.org. Then run it."),
    ("Autolink <https://example.org/a> here", "Autolink example.org here"),
    ("Keep snake_case and _drop_ this", "Keep snake_case and drop this"),
    ("Line<br>break", "Line break"),
    ("Line one<br />Line two", "Line one Line two"),
    ('A <a href="https://x.org">link</a> here', "A  link  here"),
    ("a <b and c> d", "a <b and c> d"),
    ("> ```python\n> print(1)\n> ```\n\nThe answer is 42.\n", "\nThe answer is 42.\n"),
    ("- ```\n  code here\n  ```\n- Next item\nFinal words.", "Next item\nFinal words."),
    ("    ```bash\n    ls\n    ```\nDone", "Done"),
    (
        "\u8bf7\u770b https://example.com/docs\uff0c\u8fd9\u662f\u6587\u6863\u3002",
        "\u8bf7\u770b example.com\uff0c\u8fd9\u662f\u6587\u6863\u3002",
    ),
    ("Bad <http://[oops> URL", "Bad oops URL"),  # malformed: no crash
    ("[![i](x.png)# [link](http://a.b/c) ", "[# link "),
    ("a < b and b > c", "a < b and b > c"),
    ("Great job \U0001f44d\U0001f3fd! \u2764\ufe0f Thanks", "Great job !  Thanks"),
    ("Flags \U0001f1eb\U0001f1f7 go", "Flags  go"),
    ("Example:\n```python\nprint('hi')\n```\nDone.", "Example:\nDone."),
    ("~~~\ncode\n~~~\nAfter", "After"),
    ("| Name | Age |\n|------|----:|\n| Bob | 3 |", " Name , Age ,\n\n Bob , 3 ,"),
    ("[1] is a footnote", "[1] is a footnote"),
    ("Plain text, nothing to do.", "Plain text, nothing to do."),
    # Links and tags with spaces inside: a cut between their words must not split them.
    ('See [the docs](https://x.org "Docs page") now.', "See the docs now."),
    ("A [b c](d e) f [g](h) i", "A b c f g i"),
    ("Nested [a [b c](http://d.e/f g) h] end", "Nested [a b c h] end"),
    ("[not a link] here and [x] (y) there", "[not a link] here and [x] (y) there"),
    ('Text <a href="https://x.org" title="a b">link text</a> end', "Text  link text  end"),
    # Table rows, also indented or after other lines; a pipe in plain text stays.
    ("| a | b |\n| c | d |\n", " a , b ,\n c , d ,\n"),
    ("  | a | b |\nnext", " a , b ,\nnext"),
    (
        "Intro\nMore\n| Name | Age |\n|---|---|\n| Bob | 3 |\n",
        "Intro\nMore\n Name , Age ,\n\n Bob , 3 ,\n",
    ),
    ("a | b", "a | b"),
    ("Intro\nx | y", "Intro\nx | y"),
    ("- Xbox\n# X marks", "Xbox\nX marks"),
    ("_private_name", "private_name"),
    ("x a_b", "x a_b"),
    ("Bad http://:80 port", "Bad http://:80 port"),  # no host: the URL is read as it is
    ("a\tb\tword", "a\tb\tword"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cases(text: str, expected: str) -> None:
    assert speakable(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_cases_char_by_char(text: str, expected: str) -> None:
    f = SpeakableFilter()
    assert "".join(f.feed(ch) for ch in text) + f.flush() == expected


def test_code_blocks_can_be_read() -> None:
    text = "Run:\n```sh\nls -l\n```\nok"
    assert speakable(text, code_blocks="read") == "Run:\nls -l\nok"
    f = SpeakableFilter(code_blocks="read")
    assert "".join(f.feed(ch) for ch in text) + f.flush() == "Run:\nls -l\nok"


def test_emojis_can_be_kept() -> None:
    assert speakable("Hi \U0001f600", emojis=True) == "Hi \U0001f600"


def test_invalid_code_blocks_option() -> None:
    with pytest.raises(ValueError, match="code_blocks"):
        SpeakableFilter(code_blocks="drop")  # type: ignore[arg-type]


def test_text_is_released_word_by_word() -> None:
    f = SpeakableFilter()
    assert f.feed("Hello **wor") == "Hello "
    assert f.feed("ld** again") == "world "
    assert f.flush() == "again"


def test_an_unfinished_link_is_held_until_it_closes() -> None:
    f = SpeakableFilter()
    assert f.feed("See [our great docs](https://exa") == "See "
    assert f.feed("mple.com/docs) now") == "our great docs "


def test_an_unclosed_bracket_is_released_at_the_end_of_its_line() -> None:
    f = SpeakableFilter()
    assert f.feed("A [stray bracket ") == "A "
    assert f.feed("here\nNext ") == "[stray bracket here\nNext "


def test_an_endless_word_is_held_up_to_400_characters() -> None:
    f = SpeakableFilter()
    assert f.feed("x" * 400) == ""
    assert f.feed("x") == "x" * 400  # all but the last character, which may go on the word
    assert f.flush() == "x"
    assert SpeakableFilter().feed("x" * 1000) == "x" * 999


@pytest.mark.parametrize(
    ("text", "released"),
    [
        ("\nword", "\n"),
        ("a\nb\nword", "a\nb\n"),
        ("a\tb\tword", "a\tb\t"),
        ("| a | b", ""),  # a table row is held whole
        ("  | a | b", ""),
        ("x\n| a | b", "x\n"),
        ("a\nb\n| x | y", "a\nb\n"),
        # Held from the start of an unfinished link or tag that holds a space.
        ('a > b <a href="x y', "a > b "),  # an earlier ">" does not close the tag
        ('A <a href="x" >', "A "),  # the ">" starts the last word: the tag is not complete
        ("x] [a b](c d", "x] "),  # an earlier "]" does not close the link
        ("x) [a b](c d", "x) "),  # nor an earlier ")"
        ("x [[a b](c d", "x "),
        ("[a b][c d", ""),  # held from "b][c", which would split "[a b]": from "[a"
        ("word " * 60 + '<a href="x y', "word " * 60),
    ],
)
def test_text_is_released_up_to_the_last_word(text: str, released: str) -> None:
    assert SpeakableFilter().feed(text) == released


def test_a_table_row_is_held_whole_only_at_the_start_of_a_line() -> None:
    f = SpeakableFilter()
    assert f.feed("Intro ") == "Intro "
    assert f.feed("\n| a | b") == "\n"
    assert f.feed(" |\n") == " a , b ,\n"
    g = SpeakableFilter()
    assert g.feed("a ") == "a "
    assert g.feed("| b | c") == "| b | "  # mid-line: not a table


def test_flush_empties_the_filter_and_feeding_goes_on() -> None:
    f = SpeakableFilter()
    assert f.feed("a") == ""
    assert f.flush() == "a"
    assert f.flush() == ""
    assert f.feed("b ") == "b "
    assert f.feed("c") == ""
    assert f.flush() == "c"
    assert f.feed(" d") == " "  # mid-line, the space before the next word goes out


def test_a_word_cut_by_flush_keeps_its_underscores() -> None:
    f = SpeakableFilter()
    assert f.feed("snake") == ""
    assert f.flush() == "snake"
    assert f.feed("_case ") == "_case "  # joined to "snake": not emphasis
    g = SpeakableFilter()
    assert g.feed("snake") == ""
    assert g.flush() == "snake"
    assert g.feed("\n_x_ ") == "\nx "  # at a line start: emphasis


def test_a_link_with_a_title_is_held_until_it_closes() -> None:
    f = SpeakableFilter()
    assert f.feed('See [the docs](https://x.org "Docs ') == "See "
    assert f.feed('page") now ') == "the docs now "


def test_a_tag_with_spaces_is_held_until_it_closes() -> None:
    f = SpeakableFilter()
    assert f.feed('A <a href="x y') == "A "
    assert f.feed('">link</a> b ') == " link  b "


def test_a_bracket_inside_a_bracket_opens_the_link() -> None:
    f = SpeakableFilter()
    assert f.feed("x [a ") == "x "
    assert f.feed("[b c") == "[a "
    assert f.feed("](http://c) d ") == "b c d "


def test_feeds_a_sentence_splitter() -> None:
    f, splitter = SpeakableFilter(), SentenceSplitter()
    sentences: list[str] = []
    text = (
        "## Plan\n1. **Open** the [app](https://x.io). 2. Click *Go*!\n```\nx\n```\nDone \U0001f389"
    )
    for ch in text:
        sentences += splitter.feed(f.feed(ch))
    sentences += splitter.feed(f.flush()) + splitter.flush()
    assert sentences == ["Plan", "Open the app.", "2. Click Go!", "Done"]


_ATOMS = st.sampled_from(
    [
        "word", "Word", " ", " ", "\n", "**", "*", "_", "__", "`", "```", "~~", "# ", "## ",
        "- ", "1. ", "> ", "[", "]", "(", ")", "[link](http://a.b/c)", "![i](x.png)",
        "https://www.ex.org/p", "<br>", "|", "---", "\U0001f600", "\ufe0f", ".", ",", "[ ] ",
        "snake_case", "<br />", '<a href="x">', "</a>", "<b", "\uff0c", "    ", "- ```",
        "> ```", "a <b",
    ]
)  # fmt: skip


def feed_split(text: str, cuts: list[int]) -> str:
    f = SpeakableFilter()
    bounds = zip([0, *cuts], [*cuts, len(text)], strict=True)
    return "".join(f.feed(text[a:b]) for a, b in bounds) + f.flush()


@settings(max_examples=100, deadline=None)
@given(case=st.sampled_from(CASES), data=st.data())
def test_cases_split_anyhow(case: tuple[str, str], data: st.DataObject) -> None:
    text, expected = case
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    assert feed_split(text, cuts) == expected


@settings(max_examples=300, deadline=None)
@given(atoms=st.lists(_ATOMS, max_size=40), data=st.data())
def test_any_markdown_gives_the_same_text_fed_whole_or_split(
    atoms: list[str], data: st.DataObject
) -> None:
    # A metamorphic property over random Markdown (the literal outputs are in CASES above).
    text = "".join(atoms)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    assert feed_split(text, cuts) == feed_split(text, [])
