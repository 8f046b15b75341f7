"""Scenario files as YAML: parsing with line marks, and errors that name file, field and line.

The sweep file (:mod:`voicelab.sweeps`) is read by the same machinery (``kind="sweep"``,
its own error class), so both kinds of file report problems alike.

The file is composed once into a node tree (which keeps every node's position) and
constructed from that same tree, so a pydantic error ``loc`` such as
``("turns", 2, "say")`` can be walked down the nodes to the line a user must edit.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from voicelab.errors import ScenarioError, VoicelabError

__all__ = ["Loc", "ScenarioFile", "format_loc"]

Loc = tuple[str | int, ...]

# A validator's ValueError reaches us as "Value error, <what the validator said>".
_VALUE_ERROR_PREFIX = "Value error, "


def format_loc(loc: Sequence[str | int]) -> str:
    """``("turns", 2, "say")`` as ``turns[2].say``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class ScenarioFile:
    """One parsed scenario file: its data, its node tree, and error reporting against it.

    Args:
        path: The file, as the user named it (messages show it this way).
        kind: What the file holds, in messages (``scenario``, ``sweep``).
        error_type: The error raised (and returned by :meth:`error`).

    Raises:
        ScenarioError: The file cannot be read, is not valid YAML, is empty or is not a
            mapping, or repeats a key (``error_type``, when given).
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
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.data: Any = None if node is None else loader.construct_document(node)
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
        duplicate = _first_duplicate_key(node, ())
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


def _first_duplicate_key(node: yaml.Node, loc: Loc) -> tuple[Loc, int] | None:
    # PyYAML keeps the last of two equal keys silently; a scenario would then lose a turn.
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                return (*loc, key.value), key.start_mark.line
            seen.add(key.value)
            found = _first_duplicate_key(value, (*loc, key.value))
            if found is not None:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _first_duplicate_key(item, (*loc, index))
            if found is not None:
                return found
    return None
