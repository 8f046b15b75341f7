"""Scenario files as YAML: parsing with line marks, and errors that name file, field and line.

The sweep file (:mod:`voicelab.sweeps`) is read by the same machinery (``kind="sweep"``,
its own error class), so both kinds of file report problems alike.

The file is composed once into a node tree (which keeps every node's position) and
constructed from that same tree, so a pydantic error ``loc`` such as
``("turns", 2, "say")`` can be walked down the nodes to the line a user must edit.

Files come from colleagues and CI artifacts, so composing is bounded before anything walks
the tree: YAML aliases share one node, and whatever walks the tree afterwards (the
constructor's dicts and lists handed to pydantic, the duplicate-key check) walks every path
through them, so a 600-byte "billion laughs" file of nested aliases is 9**9 strings.
The composer counts the nodes as if every alias were written out and stops past
:data:`MAX_EXPANDED_NODES`; an alias inside the node it names (a recursive document) and
nesting past :data:`MAX_DEPTH` are refused too, each naming the line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from voicelab.errors import ScenarioError, VoicelabError

__all__ = ["MAX_DEPTH", "MAX_EXPANDED_NODES", "Loc", "ScenarioFile", "format_loc", "top_level_keys"]

Loc = tuple[str | int, ...]

# Nodes of the file with every alias written out. A real scenario has a few hundred and a
# sweep fewer; pydantic validates 10,000 in milliseconds, a billion laughs never.
MAX_EXPANDED_NODES = 10_000
# Levels of nesting (a scenario has 4 or 5). PyYAML composes and constructs by recursion,
# so "[[[[..." a few hundred deep would end in a RecursionError traceback instead.
MAX_DEPTH = 64

# A validator's ValueError reaches us as "Value error, <what the validator said>".
_VALUE_ERROR_PREFIX = "Value error, "


def format_loc(loc: Sequence[str | int]) -> str:
    """``("turns", 2, "say")`` as ``turns[2].say``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def top_level_keys(path: Path) -> set[str]:
    """The keys of the file's top-level mapping, composed with the same bounds as
    :class:`ScenarioFile` (no tag is constructed, so a pipecat ``!include`` is fine).

    Empty when the file is unreadable, not YAML, not a mapping or past the bounds:
    :class:`ScenarioFile` then reports why.
    """
    try:
        loader = _BoundedLoader(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return set()
    try:
        node = loader.get_single_node()
    except (_TooMuch, yaml.YAMLError):
        return set()
    finally:
        loader.dispose()
    if not isinstance(node, yaml.MappingNode):
        return set()
    return {str(key.value) for key, _ in node.value if isinstance(key, yaml.ScalarNode)}


class ScenarioFile:
    """One parsed scenario file: its data, its node tree, and error reporting against it.

    Args:
        path: The file, as the user named it (messages show it this way).
        kind: What the file holds, in messages (``scenario``, ``sweep``).
        error_type: The error raised (and returned by :meth:`error`).

    Raises:
        ScenarioError: The file cannot be read, is not valid YAML, expands its aliases past
            :data:`MAX_EXPANDED_NODES` nodes, has a recursive alias, nests past
            :data:`MAX_DEPTH`, is empty or is not a mapping, or repeats a key
            (``error_type``, when given).
    """

    def __init__(
        self,
        path: Path,
        *,
        kind: str = "scenario",
        error_type: type[VoicelabError] = ScenarioError,
    ) -> None:
        self.path = path
        self.kind = kind
        self.error_type = error_type
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise error_type(f"{path}: cannot read the {kind} file: {exc}") from None
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            self.data: Any = None if node is None else loader.construct_document(node)
        except _TooMuch as exc:
            raise error_type(f"{path}: {exc.what} (line {exc.mark.line + 1})") from None
        except yaml.MarkedYAMLError as exc:
            raise error_type(self._yaml_message(exc)) from None
        except yaml.YAMLError as exc:  # unmarked: rare, but still name the file
            raise error_type(f"{path}: invalid YAML: {exc}") from None
        finally:
            loader.dispose()
        if node is None:
            raise error_type(f"{path}: the file is empty (line 1)")
        self.root: yaml.Node = node
        if not isinstance(self.data, dict):
            found = type(self.data).__name__
            raise error_type(f"{path}: a {kind} is a mapping of fields, not a {found} (line 1)")
        duplicate = _first_duplicate_key(node)
        if duplicate is not None:
            loc, line = duplicate
            raise error_type(
                f"{path}: {format_loc(loc)}: the key appears twice, so the first one would be"
                f" lost (line {line + 1})"
            )

    def _yaml_message(self, exc: yaml.MarkedYAMLError) -> str:
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1})" if mark is not None else ""
        what = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        return f"{self.path}: invalid YAML: {what or exc}{where}"

    def line(self, loc: Sequence[str | int]) -> int:
        """The 1-based line of the deepest node ``loc`` reaches.

        A mapping key's own line is used (a block value starts on the next line, but the
        key is what the user looks for); a missing key falls back to its parent.
        """
        node, line = self.root, self.root.start_mark.line
        for part in loc:
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                found = next(((k, v) for k, v in node.value if k.value == part), None)
                if found is None:
                    break
                line, node = found[0].start_mark.line, found[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if not 0 <= part < len(node.value):
                    break
                node = node.value[part]
                line = node.start_mark.line
            else:
                break
        return line + 1

    def error(self, problems: Iterable[tuple[Sequence[str | int], str]]) -> VoicelabError:
        """A :class:`ScenarioError` (``error_type``) listing ``(loc, message)`` problems,
        one per line."""
        lines = []
        for loc, message in problems:
            field = format_loc(loc) or "(top level)"
            lines.append(f"{self.path}: {field}: {message} (line {self.line(loc)})")
        return self.error_type("\n".join(lines))

    def validation_error(
        self, exc: ValidationError, allowed: dict[tuple[str, ...], Iterable[str]]
    ) -> VoicelabError:
        """Turn pydantic's errors into a :class:`ScenarioError` (``error_type``).

        Args:
            exc: What pydantic raised while validating :attr:`data`.
            allowed: The field names of each nested model, by the loc's names (list
                indices left out), so an unknown field can say what was meant.
        """
        problems = []
        for err in exc.errors():
            loc: Loc = tuple(err["loc"])
            message = str(err["msg"]).removeprefix(_VALUE_ERROR_PREFIX)
            if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
                names = allowed.get(tuple(p for p in loc[:-1] if isinstance(p, str)), ())
                message = _unknown_field(loc[-1], sorted(names))
            problems.append((loc, message))
        return self.error(problems)


def _unknown_field(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(names)}"
    return f"unknown field ({hint})"


def _first_duplicate_key(root: yaml.Node) -> tuple[Loc, int] | None:
    """The first key repeated in a mapping (its loc and 0-based line), in document order.

    PyYAML keeps the last of two equal keys silently; a scenario would then lose a turn.
    Iterative, and each node is looked at once however many aliases share it: a node's
    duplicates are the same wherever it appears, and the first loc that reaches it is
    the first in document order.
    """
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        children: list[tuple[yaml.Node, Loc]] = []
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if key.value in keys:
                    return (*loc, key.value), key.start_mark.line
                keys.add(key.value)
                children.append((value, (*loc, key.value)))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, (*loc, index)) for index, item in enumerate(node.value)]
        stack.extend(reversed(children))  # popped first to last: document order
    return None


class _TooMuch(Exception):
    """A file the composer refuses to expand: what is wrong, and where."""

    def __init__(self, what: str, mark: yaml.Mark) -> None:
        super().__init__(what)
        self.what, self.mark = what, mark


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that counts the nodes of the file as if aliases were expanded.

    ``expanded`` grows by one per node composed and, per alias, by the expanded size of the
    node it names (remembered per node when the node is done, so counting is linear in the
    file). A node still being composed is open: an alias to it is recursive.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.expanded = 0
        self._sizes: dict[int, int] = {}  # id(node) -> expanded size, once composed
        self._open: set[int] = set()  # id of every node being composed (parents)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if parent is not None:
            self._open.add(id(parent))
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is PyYAML's own error
                if id(target) in self._open:
                    raise _TooMuch(
                        f"the alias *{event.anchor} is inside the node it names: a recursive"
                        " alias never ends (write the value out)",
                        event.start_mark,
                    )
                self._count(self._sizes[id(target)], f"the alias *{event.anchor}", event)
            node: yaml.Node = super().compose_node(parent, index)
            return node
        event = self.peek_event()
        if self._depth >= MAX_DEPTH:
            raise _TooMuch(f"the file nests more than {MAX_DEPTH} levels deep", event.start_mark)
        start = self.expanded
        self._count(1, "this node", event)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._open.discard(id(node))
        self._sizes[id(node)] = self.expanded - start
        return node

    def _count(self, nodes: int, what: str, event: yaml.Event) -> None:
        self.expanded += nodes
        if self.expanded > MAX_EXPANDED_NODES:
            raise _TooMuch(
                f"{what} takes the file past {MAX_EXPANDED_NODES:,} YAML nodes with its aliases"
                " expanded (an alias bomb?)",
                event.start_mark,
            )
