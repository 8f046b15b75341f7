"""Every exception class voicelab defines is in the VoicelabError tree, drawn truly."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import voicelab
from voicelab import errors
from voicelab.errors import VoicelabError

# __main__ runs the CLI when imported.
_SKIP = re.compile(r"^voicelab\.__main__$")


def _voicelab_exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(voicelab.__path__, "voicelab."):
        if _SKIP.match(info.name):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and not issubclass(value, Warning)  # warned, never raised
                and value.__module__ == info.name
            ):
                found[f"{info.name}.{name}"] = value
    return found


def _drawn_tree() -> dict[str, str]:
    """``{class name: parent name}`` as drawn in the errors module's docstring."""
    assert errors.__doc__ is not None
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in errors.__doc__.splitlines():
        match = re.match(
            r"^(\s*(?:[│ ]\s*)*)(?:├── |└── )?([A-Z]\w+Error|\w+Refused|\w+Call)\b", line
        )
        if not match or not line.startswith("    "):
            continue
        depth = len(match.group(1)) + (4 if ("├" in line or "└" in line) else 0)
        name = match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    return parents


def test_every_public_exception_derives_from_voicelab_error() -> None:
    outside = [
        path
        for path, cls in _voicelab_exception_classes().items()
        if not issubclass(cls, VoicelabError) and not path.rsplit(".", 1)[1].startswith("_")
    ]
    assert outside == []


def test_the_docstring_tree_names_every_error_with_its_real_parent() -> None:
    drawn = _drawn_tree()
    classes = {
        path.rsplit(".", 1)[1]: cls
        for path, cls in _voicelab_exception_classes().items()
        if issubclass(cls, VoicelabError) and cls is not VoicelabError
    }
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        assert classes[name].__bases__[0].__name__ == parent, name


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (errors.InvalidArgumentError, ValueError),
        (errors.NotFoundError, KeyError),
    ],
)
def test_argument_errors_are_also_the_builtin_a_caller_expects(
    cls: type[Exception], builtin: type[Exception]
) -> None:
    with pytest.raises(builtin):
        raise cls("x")


def test_not_found_reads_as_a_sentence_not_a_quoted_key() -> None:
    assert str(errors.NotFoundError("unknown call 'CA1'")) == "unknown call 'CA1'"
