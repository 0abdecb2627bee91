"""Sentence splitting for streamed text, sans-IO: feed text pieces, get whole sentences.

Why a small rule set rather than pysbd or blingfire: those segment a *complete* text, so on a
stream they either wait for the end (no early speech) or must be re-run on a growing buffer and
may change their mind about earlier boundaries. Here every boundary is decided from a bounded
look-ahead (at most the next word), and a position is never revisited once decided, so the
sentences are the same however the text is split into pieces (a property the tests check with
hypothesis), and each sentence is released as soon as the first character after it arrives.
"""

from __future__ import annotations

__all__ = ["SentenceSplitter"]

_TERMINATORS = frozenset(".!?\u2026\u3002\uff01\uff1f")  # ... and CJK full stops
# Longest run of punctuation or spaces looked at after a terminator: past it, the run is cut.
_RUN_LIMIT = 64
_CJK_TERMINATORS = frozenset("\u3002\uff01\uff1f")
_CLOSERS = frozenset("\"')]}\u00bb\u201d\u2019")
_CLAUSE_MARKS = frozenset(",;:")
_DASHES = frozenset("\u2014\u2013")  # em and en dash

#: Words that end in a period without ending the sentence (compared in lower case).
_ABBREVIATION_TEXT = """
    mr mrs ms mx dr prof sr jr st mt ft vs cf approx dept est fig figs gen gov hon inc ltd co
    corp jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun no nos
    vol vols pp ed eds rev capt col lt sgt cmdr adm ave blvd rd apt al e.g i.e a.k.a
"""
ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
#: Abbreviations that also commonly end a sentence: a boundary when a capital follows.
_FINAL_ABBREVIATIONS = frozenset({"etc", "a.m", "p.m", "inc", "ltd", "co", "corp"})


class SentenceSplitter:
    """Split streamed text into sentences as they complete.

    >>> splitter = SentenceSplitter()
    >>> splitter.feed("Dr. Smith paid $3.50. It was")
    ['Dr. Smith paid $3.50.']
    >>> splitter.feed(" cheap! Bye")
    ['It was cheap!']
    >>> splitter.flush()
    ['Bye']

    Rules: ``.``, ``!``, ``?`` and ``…`` (with any closing quotes or brackets) end a sentence
    when whitespace and then a non-lower-case character follow; a newline always does (list
    items, paragraphs); ``.`` directly followed by a capitalized word ends one too
    (``one.Two``). Decimals (``3.5``), abbreviations (``Dr.``, ``e.g.``, ``U.S.``), initials,
    ellipses inside a sentence (``wait... what``), URLs and list numbers do not.

    ``first_min_chars``: the first piece may end at a clause mark (``,`` ``;`` ``:`` or a dash)
    once it is at least this long, so speech starts before a long first sentence is complete
    (0 disables). ``max_chars``: longer sentences are cut at the last clause mark, else the last
    space, within the limit.
    """

    def __init__(self, max_chars: int = 4096, first_min_chars: int = 0) -> None:
        if max_chars < 2:
            raise ValueError(f"max_chars must be at least 2, got {max_chars}")
        self.max_chars = max_chars
        self.first_min_chars = first_min_chars
        self._buf = ""
        # Every position before this one is known not to end a piece.
        self._scanned = 0
        self._started = False  # a piece was released

    @property
    def pending(self) -> str:
        """Text received but not yet released as a sentence."""
        return self._buf

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the sentences it completed (possibly none)."""
        self._buf += text
        if self._buf.isspace():
            self._buf = ""  # nothing to say yet; leading space never matters
        out: list[str] = []
        while (cut := self._next_cut(final=False)) is not None:
            self._release(cut, out)
        return out

    def flush(self) -> list[str]:
        """End of text: return everything still pending, as sentences."""
        out: list[str] = []
        while (cut := self._next_cut(final=True)) is not None:
            self._release(cut, out)
        self._release(len(self._buf), out)
        return out

    def flush_clause(self) -> list[str]:
        """The text stalled: release what can be said now without cutting a phrase.

        Everything pending if it ends like a sentence; else up to the last clause mark; else
        nothing. Call it when no text arrived for a while (an LLM pausing).
        """
        out: list[str] = []
        stripped = self._buf.rstrip()
        end = len(stripped)
        while end and stripped[end - 1] in _CLOSERS:
            end -= 1
        if end and stripped[end - 1] in _TERMINATORS:
            return self.flush()
        cut = _last_clause_end(self._buf, 0, len(self._buf))
        if cut is not None:
            self._release(cut, out)
        return out

    def _release(self, cut: int, out: list[str]) -> None:
        piece, self._buf = self._buf[:cut].strip(), self._buf[cut:].lstrip()
        self._scanned = 0
        if any(ch.isalnum() for ch in piece):
            out.append(piece)
            self._started = True

    def _next_cut(self, *, final: bool) -> int | None:
        """Where the first pending piece ends, or ``None`` if that is not known yet."""
        buf = self._buf
        start = len(buf) - len(buf.lstrip())
        first = not self._started and self.first_min_chars > 0
        i = max(self._scanned, start)
        while i < len(buf):
            if i - start >= self.max_chars:
                return _cut_long(buf, start, start + self.max_chars)
            ch = buf[i]
            if ch == "\n":
                return i + 1
            verdict: int | bool | None = False
            if ch in _TERMINATORS:
                verdict = _sentence_end(buf, start, i, final)
            elif (
                first
                and (ch in _CLAUSE_MARKS or ch in _DASHES)
                and len(buf[start:i].strip()) >= self.first_min_chars
            ):
                verdict = _clause_end(buf, i)
            if verdict is None:
                self._scanned = i
                return None
            if verdict is not False:
                cut = int(verdict)
                if cut - start > self.max_chars:  # a run of "..." or quotes went past the limit
                    return _cut_long(buf, start, start + self.max_chars)
                return cut
            i += 1
        self._scanned = i
        return None


def _sentence_end(buf: str, start: int, i: int, final: bool) -> int | bool | None:
    """Does the terminator at ``buf[i]`` end a sentence? The end index, False, or None (wait)."""
    n = len(buf)
    j = i
    while j < n and buf[j] in _TERMINATORS and j - i < _RUN_LIMIT:
        j += 1
    while j < n and buf[j] in _CLOSERS and j - i < _RUN_LIMIT:
        j += 1
    if j - i >= _RUN_LIMIT:
        return j  # an endless run of punctuation: cut it here (and keep the cost linear)
    if j == n:
        return j if final else None
    nxt = buf[j]
    run = buf[i:j]
    if not _CJK_TERMINATORS.isdisjoint(run):
        return j  # CJK text puts no space after a full stop
    if nxt.isspace():
        k = j
        while k < n and buf[k].isspace() and k - j < _RUN_LIMIT:
            if buf[k] == "\n":
                break
            k += 1
        if k - j >= _RUN_LIMIT:
            return j
        if k == n:
            return j if final else None
        if buf[k].islower():
            return False
        if run == "." and not _period_ends(buf, start, i, following=buf[k]):
            return False
        return j
    if run == "." and nxt.isupper():
        # "one.Two": a word glued to a capitalized word ("U.S.A" and "Node.JS" are not).
        if j + 1 == n:
            return False if final else None
        word = _word_before(buf, start, i)
        if len(word) >= 2 and word.isalpha() and buf[j + 1].islower():
            return j
    return False


def _period_ends(buf: str, start: int, i: int, following: str) -> bool:
    """Does the period at ``buf[i]``, followed by a space, end the sentence?"""
    word = _word_before(buf, start, i)
    if not word:
        return True
    lower = word.lower()
    if lower in _FINAL_ABBREVIATIONS:
        return following.isupper()
    if lower in ABBREVIATIONS:
        return False
    if all(len(p) == 1 and p.isalpha() for p in word.split(".")):
        return False  # an initial ("J. R. R. Tolkien") or letters with periods ("U.S.", "e.g.")
    # A list number at the start of a line ("1. First step"): a newline always ends a piece,
    # so the start of the line is the start of the piece.
    return not (word.isdigit() and i - len(word) == start)


def _word_before(buf: str, start: int, i: int) -> str:
    """The run of non-space characters ending at ``buf[i]`` (exclusive), without openers."""
    k = i
    while k > start and not buf[k - 1].isspace():
        k -= 1
    return buf[k:i].lstrip("\"'([{\u00ab\u201c\u2018")


def _clause_end(buf: str, i: int) -> int | bool | None:
    """Does the clause mark at ``buf[i]`` end a clause (whitespace follows)?

    At the end of the buffer: None, wait (at the end of text, flush releases the rest anyway).
    """
    if buf[i] in _DASHES and not buf[i - 1].isspace():  # i > 0: the piece has first_min_chars
        return False
    if i + 1 == len(buf):
        return None
    return i + 1 if buf[i + 1].isspace() else False


def _last_clause_end(buf: str, lo: int, hi: int) -> int | None:
    """The end of the last clause mark in ``buf[lo:hi]`` followed by whitespace or the end."""
    for i in range(hi - 1, lo, -1):
        ch = buf[i]
        if ch in _CLAUSE_MARKS or ch in _DASHES:
            if ch in _DASHES and not buf[i - 1].isspace():
                continue
            if i + 1 == len(buf) or buf[i + 1].isspace():
                return i + 1
    return None


def _cut_long(buf: str, start: int, limit: int) -> int:
    """Where to cut a sentence longer than the limit: clause mark, else space, else anywhere."""
    cut = _last_clause_end(buf, start, limit)  # never past the limit: marks before it only
    if cut is not None:
        return cut
    space = buf.rfind(" ", start + 1, limit + 1)
    return space if space > start else limit
