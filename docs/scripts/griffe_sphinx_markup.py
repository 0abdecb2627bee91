"""A griffe extension that lets mkdocstrings render ttsstream's Sphinx-flavoured docstrings.

The docstrings are written for Sphinx and doctest, not Markdown. Before mkdocstrings renders
them, this extension (loaded by ``mkdocs.yml``) rewrites, on every object of the package:

* ``#:`` comments above attributes (Sphinx's attribute docs) into the attributes' docstrings;
* cross-reference roles (``:class:`X```, ``:meth:`~X.y```, ...) into optional links to the
  API reference (plain code when the target is not on the page; never a build warning);
* doctest examples (``>>>`` runs) into fenced ``pycon`` blocks, without ``# doctest:`` flags;
* methods without a docstring inherit the docstring of the method they override.

The source files are never modified: only griffe's in-memory copy of the docstrings.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import griffe

PACKAGE = "ttsstream"

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|attr|exc|data|obj|mod|const|type):`(?P<target>[^`]+)`"
)
_DOCTEST_FLAG = re.compile(r"\s*#\s*doctest:.*$")
_FENCE = re.compile(r"(^[ \t]*```pycon\n.*?^[ \t]*```$)", re.MULTILINE | re.DOTALL)


class SphinxMarkup(griffe.Extension):
    """Rewrite Sphinx markup in the docstrings of :data:`PACKAGE` into Markdown."""

    def __init__(self) -> None:
        super().__init__()
        self._done: set[int] = set()
        self._lines: dict[Path, list[str]] = {}

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        self._process(pkg)

    def _process(self, pkg: griffe.Module) -> None:
        if pkg.name != PACKAGE or id(pkg) in self._done:
            return
        self._done.add(id(pkg))
        exported = {str(name) for name in (pkg.exports or ())}
        objects = list(_walk(pkg))
        for obj in objects:
            if obj.is_attribute and obj.docstring is None:
                comment = self._comment_above(obj)
                if comment:
                    obj.docstring = griffe.Docstring(comment, parent=obj)
        for obj in objects:
            if obj.is_function and obj.docstring is None and obj.parent is not None:
                inherited = _inherited_docstring(obj)
                if inherited is not None:
                    obj.docstring = griffe.Docstring(inherited, parent=obj)
        for obj in objects:
            if obj.docstring is not None:
                text = _doctests_to_fences(obj.docstring.value)
                # Odd pieces are fenced code: leave them alone.
                pieces = _FENCE.split(text)
                for k in range(0, len(pieces), 2):
                    pieces[k] = _roles_to_links(pieces[k], obj, exported)
                obj.docstring.value = "".join(pieces)

    def _comment_above(self, obj: griffe.Object) -> str | None:
        """The ``#:`` comment lines right above ``obj``'s definition, joined."""
        if obj.lineno is None or obj.filepath is None or isinstance(obj.filepath, list):
            return None
        path = Path(obj.filepath)
        if path not in self._lines:
            self._lines[path] = path.read_text(encoding="utf-8").splitlines()
        lines = self._lines[path]
        found: list[str] = []
        i = obj.lineno - 2  # the line above, 0-based
        while i >= 0 and lines[i].strip().startswith("#:"):
            found.append(lines[i].strip()[2:].strip())
            i -= 1
        return " ".join(reversed(found)) or None


def _walk(obj: griffe.Object) -> Any:
    """Every object defined in the package (aliases are skipped: they share the targets)."""
    yield obj
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield from _walk(member)  # type: ignore[arg-type]


def _inherited_docstring(func: griffe.Object) -> str | None:
    parent = func.parent
    if not isinstance(parent, griffe.Class):
        return None
    try:
        bases = parent.mro()
    except (ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None
    for base in bases:
        member = base.members.get(func.name)
        if member is not None and member.docstring is not None:
            return str(member.docstring.value)
    return None


def _public_path(obj: griffe.Object, exported: set[str]) -> str | None:
    """``ttsstream.Speaker.say`` for ``ttsstream._speaker.Speaker.say``, if it is exported."""
    parts: list[str] = []
    node: griffe.Object | None = obj
    while node is not None and not node.is_module:
        parts.append(node.name)
        node = node.parent
    parts.reverse()
    if not parts or parts[0] not in exported:
        return None
    return ".".join([PACKAGE, *parts])


def _enclosing_class(obj: griffe.Object) -> griffe.Object | None:
    node: griffe.Object | None = obj
    while node is not None and not node.is_class:
        node = node.parent if not node.is_module else None
    return node


def _roles_to_links(text: str, owner: griffe.Object, exported: set[str]) -> str:
    return _ROLE.sub(lambda m: _role(m, owner, exported), text)


def _role(match: re.Match[str], owner: griffe.Object, exported: set[str]) -> str:
    role, target = match["role"], match["target"].strip()
    short = target.startswith("~")
    target = target.lstrip("~").removesuffix("()")
    title = target.rsplit(".", 1)[-1] if short else target
    if role in ("func", "meth"):
        title += "()"
    code = f"<code>{html.escape(title)}</code>"
    identifier = _identifier(target, owner, exported)
    if identifier is None:
        return code
    return f'<autoref identifier="{html.escape(identifier)}" optional>{code}</autoref>'


def _identifier(target: str, owner: griffe.Object, exported: set[str]) -> str | None:
    """Where ``target`` is documented on the reference page, if it is."""
    name = target.removeprefix(f"{PACKAGE}.")
    parts = name.split(".")
    if any(part.startswith("_") and not part.startswith("__") for part in parts):
        return None  # private: not on the reference page
    if parts[0] in exported:
        return f"{PACKAGE}.{name}"
    # Relative to the class the docstring belongs to: ``:meth:`drain``` in WavFileSink.
    cls = _enclosing_class(owner)
    if cls is None or len(parts) != 1:
        return None
    path = _public_path(cls, exported)
    if path is None or path.count(".") != 1 or name not in cls.all_members:
        return None
    return f"{path}.{name}"


def _doctests_to_fences(text: str) -> str:
    """Wrap each run of doctest lines (``>>>`` up to a blank line) in a ``pycon`` fence."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            while i < len(lines) and lines[i].strip():
                out.append(_DOCTEST_FLAG.sub("", lines[i]))
                i += 1
            out.append(f"{indent}```")
            continue
        out.append(line)
        i += 1
    return "\n".join(out)
