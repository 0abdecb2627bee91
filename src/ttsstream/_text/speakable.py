"""Turn the Markdown that LLMs write into text worth speaking, sans-IO and streamable.

``**bold**`` is said as "bold", not "asterisk asterisk bold"; a heading or a bullet loses its
marker; a link is read as its text; a bare URL as its host name; fenced code blocks are skipped
(or read, if asked); emojis are dropped. :class:`SpeakableFilter` does it on streamed deltas,
releasing text as soon as the next whitespace shows that a word (or a link) is complete, so the
sentence splitter behind it sees speech-ready text with at most one word of delay.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["SpeakableFilter", "speakable"]

CodeBlocks = Literal["skip", "read"]

_FENCE = re.compile(r"```|~~~")
_HEADING = re.compile(r"#{1,6}(?=\s)\s*")
_QUOTE = re.compile(r"(?:>[ \t]?)+")
_RULE = re.compile(r"([-*_])\1{2,}(?=\s|$)")
_BULLET = re.compile(r"(?:[-*+]|\d{1,3}[.)])[ \t]+")
_CHECKBOX = re.compile(r"\[[ xX]\][ \t]+")
_TABLE_RULE = re.compile(r"\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*")
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\[\]\n]*)\]\([^)\n]*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
# A URL ends at whitespace, brackets, or CJK and full-width punctuation; trailing punctuation
# belongs to the sentence.
_URL = re.compile(
    "\\bhttps?://[^\\s<>()\\[\\]\u3000-\u303f\uff00-\uffef]*"
    "[^\\s<>()\\[\\].,;:!?'\"\u3000-\u303f\uff00-\uffef]"
)
_HOST = re.compile(r"https?://(?:[^@/?#\s]*@)?\[?([^/?#:\]\s]+)")
# HTML tags as LLMs write them: <br>, <br />, <sup>, <a href="...">; attributes are name=value,
# so "a <b and c> d" is not a tag.
_TAG = re.compile(
    r"</?[A-Za-z][A-Za-z0-9]*(?:\s+[A-Za-z-]+=(?:\"[^\"\n]*\"|'[^'\n]*'|[^\s>]+))*\s*/?>"
)
_TAG_START = re.compile(r"</?[A-Za-z]")
_MARKERS = re.compile(r"\*+|~~|`+")
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # pictographs, emoticons, transport, flags, skin tones
    "\u2600-\u27bf"  # miscellaneous symbols and dingbats
    "\u2b50-\u2b55\u231a\u231b\u23e9-\u23fa"
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, zero-width joiner, keycap
    "\U000e0020-\U000e007f"  # tag characters (subdivision flags)
    "]+"
)
# How long an unfinished link ("[text](url") is held back before it is given up as plain text.
_MAX_LINK_HOLD = 500
# A "word" this long with no whitespace is released anyway (it is not going to be a link).
_MAX_WORD_HOLD = 400


def speakable(text: str, *, code_blocks: CodeBlocks = "skip", emojis: bool = False) -> str:
    """``text`` (Markdown, as LLMs write it) made fit to be spoken.

    >>> speakable("## Steps\\n1. **Mix** the [flour](https://x.org/f) 🍞\\n```py\\nx = 1\\n```\\n")
    'Steps\\nMix the flour \\n'
    """
    cleaner = SpeakableFilter(code_blocks=code_blocks, emojis=emojis)
    return cleaner.feed(text) + cleaner.flush()


class SpeakableFilter:
    """:func:`speakable` for streamed text: ``feed(delta)`` returns the text it can release.

    The output is the same however the input is split (up to an unbounded word or link, which
    is released after a few hundred characters).

    >>> f = SpeakableFilter()
    >>> f.feed("Read **the"), f.feed(" docs** at [our site](https://exa"), f.feed("mple.com). ")
    ('Read ', 'the docs at ', 'our site. ')
    >>> f.flush()
    ''
    """

    def __init__(self, *, code_blocks: CodeBlocks = "skip", emojis: bool = False) -> None:
        if code_blocks not in ("skip", "read"):
            raise ValueError(f"code_blocks must be 'skip' or 'read', got {code_blocks!r}")
        self.code_blocks = code_blocks
        self.emojis = emojis
        self._buf = ""
        self._line_start = True
        self._in_code = False
        self._skip_line = False
        self._table_row = False
        self._prev = "\n"

    def feed(self, text: str) -> str:
        """Add a piece of text; return what can be spoken of it so far."""
        self._buf += text
        cut = self._safe_cut()
        piece, self._buf = self._buf[:cut], self._buf[cut:]
        return self._process(piece)

    def flush(self) -> str:
        """End of text, or the text stalled: return what is held. Feeding may go on after."""
        piece, self._buf = self._buf, ""
        return self._process(piece)

    def _safe_cut(self) -> int:
        """How much of the buffer can be processed now without cutting a word or a link."""
        buf = self._buf
        cut = _word_start(buf, len(buf))
        if cut == 0 and len(buf) > _MAX_WORD_HOLD:
            cut = len(buf) - 1
        line = buf.rfind("\n") + 1  # the cut is never before the last newline
        row = buf[line:]
        at_line_start = self._line_start or line > 0
        table_row = row.lstrip(" \t").startswith("|") and len(row) < _MAX_WORD_HOLD
        if at_line_start and table_row and cut > line:
            cut = line  # a table row is held whole: "| --- | --- |" is not speech
        # Moving the cut back to the word before a held construct may split an earlier one.
        while (held := _held(buf, line, cut)) is not None:
            cut = held  # always earlier: the start of a word before the cut
        return cut

    def _process(self, piece: str) -> str:
        out: list[str] = []
        lines = piece.split("\n")
        for index, segment in enumerate(lines):
            newline = index < len(lines) - 1
            out.append(self._segment(segment))
            if newline:
                dropped = self._skip_line or (self._in_code and self.code_blocks == "skip")
                out.append("" if dropped else "\n")
                self._line_start = True
                self._skip_line = False
                self._table_row = False
        if piece:
            self._prev = piece[-1]
        return "".join(out)

    def _segment(self, seg: str) -> str:
        if self._skip_line:
            return ""
        prev = "\n" if self._line_start else self._prev
        if self._line_start:
            if not seg.strip():
                return ""  # a blank line, or indentation only so far: the first word is to come
            body = _strip_line_markup(seg)
            if _FENCE.match(body):  # also inside a quote or a list item: "> ```", "- ```"
                self._in_code = not self._in_code
                self._skip_line = True  # the rest of the line too, until the newline
                return ""
            # Only markers so far ("- " of "- [ ] task"): the next piece still starts the line.
            self._line_start = not body.strip()
            if self._in_code:
                return body if self.code_blocks == "read" else ""
            seg = body
            if seg.startswith("|"):
                self._table_row = True
                seg = seg[1:]
        elif self._in_code:
            return seg if self.code_blocks == "read" else ""
        return self._inline(seg, prev)

    def _inline(self, seg: str, prev: str) -> str:
        seg = _IMAGE.sub("", seg)
        seg = _LINK.sub(r"\1", seg)
        seg = _AUTOLINK.sub(lambda m: _host(m.group(1)), seg)
        seg = _URL.sub(lambda m: _host(m.group(0)), seg)
        seg = _TAG.sub(" ", seg)
        seg = _MARKERS.sub("", seg)
        if "_" in seg:
            seg = _strip_underscores(seg, prev)
        if self._table_row:
            seg = seg.replace("|", ",")
        if not self.emojis:
            seg = _EMOJI.sub("", seg)
        return seg


def _strip_line_markup(seg: str) -> str:
    """Remove a line's heading, quote, bullet, task box or rule marker."""
    body = seg.lstrip(" \t")
    if _TABLE_RULE.fullmatch(body) and "-" in body:
        return ""
    # Markers nest ("> - [ ] task"); strip until none is left, as a stream would piece by piece.
    stripped = True
    while stripped:
        stripped = False
        for pattern in (_QUOTE, _HEADING, _RULE, _BULLET, _CHECKBOX):
            if m := pattern.match(body):
                body = body[m.end() :].lstrip(" \t")
                stripped = True
    return body


def _held(buf: str, line: int, cut: int) -> int | None:
    """Where to cut instead, if ``cut`` would split a link or a tag (or one is unfinished).

    Only the last line, ``buf[line:]``, is looked at: a newline ends any link or tag.
    """
    first: int | None = None
    # An unfinished tag ("<br " before its "/>") is held like an unfinished link.
    for m in _TAG_START.finditer(buf, line, cut):
        close = buf.find(">", m.start())
        if (close == -1 or close >= cut) and cut - m.start() < _MAX_LINK_HOLD:
            first = m.start()
            break
    start = buf.find("[", line, cut)
    while start != -1 and (first is None or start < first):
        end = _link_end(buf, start)
        if end is None or end > cut:  # unfinished, or the cut would split it
            if cut - start < _MAX_LINK_HOLD:
                first = start
            break
        start = buf.find("[", max(end, start + 1), cut)
    return None if first is None else _word_start(buf, first)


def _word_start(buf: str, i: int) -> int:
    """Where the word holding ``buf[i]`` starts: pieces end at whitespace, never mid-word."""
    return max(buf.rfind(" ", 0, i), buf.rfind("\n", 0, i), buf.rfind("\t", 0, i)) + 1


def _link_end(buf: str, start: int) -> int | None:
    """End of the link-like construct starting with ``[`` at ``start``; None if unfinished.

    ``buf[start:]`` holds no newline (see :func:`_held`).
    """
    close = buf.find("]", start)
    inner = buf.find("[", start + 1)
    if inner != -1 and (close == -1 or inner < close):
        return start + 1  # "[a [b](c)": only the inner bracket can open a link
    if close == -1 or close + 1 == len(buf):
        return None  # unfinished, or a "(" may follow
    if buf[close + 1] != "(":
        return close + 1
    paren = buf.find(")", close)
    return None if paren == -1 else paren + 1


def _strip_underscores(seg: str, prev: str) -> str:
    """Drop ``_`` used for emphasis (at a word edge); keep it inside ``snake_case``."""
    out: list[str] = []
    for i, ch in enumerate(seg):
        if ch == "_":
            before = seg[i - 1] if i else prev
            after = seg[i + 1] if i + 1 < len(seg) else " "
            if before.isalnum() and after.isalnum():
                out.append(ch)
            continue
        out.append(ch)
    return "".join(out)


def _host(url: str) -> str:
    m = _HOST.match(url)
    host = m.group(1).lower() if m else url
    return host.removeprefix("www.")
