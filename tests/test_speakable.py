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


def test_an_endless_word_is_not_held_forever() -> None:
    f = SpeakableFilter()
    out = f.feed("x" * 1000)
    assert len(out) >= 990


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


@settings(max_examples=300, deadline=None)
@given(atoms=st.lists(_ATOMS, max_size=40), data=st.data())
def test_same_output_for_any_split(atoms: list[str], data: st.DataObject) -> None:
    text = "".join(atoms)
    expected = speakable(text)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=12)))
    f = SpeakableFilter()
    got = "".join(f.feed(text[a:b]) for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True))
    assert got + f.flush() == expected
