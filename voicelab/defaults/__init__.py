"""The reference agent's defaults, shipped inside the package (read with ``importlib.resources``).

The files, beside this module::

    personas/inbound.md, outbound.md   the personas (front matter + system prompt)
    scenarios/*.yaml                   the reference agent's scenarios (``voicelab demo`` plays
                                       ``cold_food``); ``wav:`` turns are relative to the file
    pipecat/*.yaml                     pipecat eval files run on the phone line (one refused)
    scripted_replies.yaml              the scripted LLM's keyword replies (and the functions
                                       a reply calls)
    sites.yaml                         the reference agent's site directory (``lookup_site``)
    quality_rules.yaml                 thresholds and patterns of the rule checks
    judge_rubric.md                    the LLM judge's rubric, its version in the front matter
    starter/                           the templates ``voicelab init`` writes

In voicelab's repository, ``evals/`` is the editable, versioned copy a user starts from
(``evals/prompts`` holds the personas); a unit test keeps it identical to these files.

The accessors return real paths (a wheel is installed as files, so scenario files can name
files beside them) or typed, validated models. A user's own copy of a file goes through the
same model (``path=``), so its mistakes are reported the same way: a
:class:`~voicelab.errors.ConfigError` naming the file. This package imports nothing of
voicelab but :mod:`voicelab.errors`, so every layer (analysis included) may use it.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voicelab.errors import ConfigError, ScenarioError

__all__ = [
    "JudgeRubric",
    "QualityRules",
    "ReplyRule",
    "ScriptedCall",
    "ScriptedReplies",
    "Site",
    "SiteDirectory",
    "data_dir",
    "front_matter",
    "load_judge_rubric",
    "load_quality_rules",
    "load_scripted_replies",
    "load_sites",
    "personas_dir",
    "scenario_names",
    "scenario_path",
    "scenarios_dir",
    "starter_dir",
]


def data_dir() -> Path:
    """The directory of the packaged defaults.

    Raises:
        ConfigError: voicelab is imported from a zip archive, so its data are not files.
    """
    root = resources.files(__name__)
    if not isinstance(root, Path):  # zipimport: scenarios could not name files beside them
        raise ConfigError(f"voicelab's defaults must be installed as files, not in {root}")
    return root


def personas_dir() -> Path:
    """The reference personas' directory (``inbound.md``, ``outbound.md``)."""
    return data_dir() / "personas"


def scenarios_dir() -> Path:
    """The reference scenarios' directory."""
    return data_dir() / "scenarios"


def starter_dir() -> Path:
    """The templates of ``voicelab init``."""
    return data_dir() / "starter"


def scenario_names() -> list[str]:
    """The packaged scenarios' names (file names without ``.yaml``), sorted."""
    return sorted(path.stem for path in scenarios_dir().glob("*.yaml"))


def scenario_path(name: str) -> Path:
    """The packaged scenario file called ``name`` (e.g. ``cold_food``).

    Raises:
        ScenarioError: No packaged scenario has that name (the message lists them).
    """
    names = scenario_names()
    if name not in names:  # also keeps "../x" from naming a file outside the package
        raise ScenarioError(f"no packaged scenario {name!r}; there are: {', '.join(names)}")
    return scenarios_dir() / f"{name}.yaml"


def front_matter(text: str, path: Path) -> tuple[dict[str, Any], str]:
    """Split a ``---`` YAML front matter from the text after it.

    Raises:
        ConfigError: No front matter, or it is not a YAML mapping (the message names ``path``).
    """
    if not text.startswith("---"):
        raise ConfigError(f"{path}: expected '---' front matter at the top")
    try:
        _, front, body = text.split("---", 2)
        meta = yaml.safe_load(front) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: invalid front matter: {exc}") from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{path}: invalid front matter: not a mapping")
    return meta, body


# --- typed files ------------------------------------------------------------------------


M = TypeVar("M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(_read(path))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top")
    return data


def _validate(model: type[M], data: dict[str, Any], path: Path) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from None


class ScriptedCall(_Model):
    """A function a scripted reply calls, and what the scripted LLM says once it has the result.

    Attributes:
        name: The function's name, as the agent registered it (``log_feedback``...).
        args: Its arguments. In a string value, ``{said}`` is what the caller said and
            ``{keyword}`` the rule's keyword that matched.
        then: Said when the result is back: ``{field}`` is that field of the result (a
            result that is not a mapping is ``{result}``). ``None``: nothing is said.
        on_error: Said instead when the result has an ``error`` (``{error}`` is it); the
            calls after this one are not made. ``None``: ``then`` is said regardless.
    """

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    args: dict[str, Any] = Field(default_factory=dict)
    then: str | None = None
    on_error: str | None = None


class ReplyRule(_Model):
    """One scripted reply and the caller's words that call for it.

    Attributes:
        keywords: Lower-case words; any of them in what the caller said selects the reply.
        reply: What the scripted LLM says.
        calls: Functions the reply calls, one after the other: the first right after the
            reply, each next one after the previous result's ``then``.
    """

    keywords: tuple[str, ...] = Field(min_length=1)
    reply: str = Field(min_length=1)
    calls: tuple[ScriptedCall, ...] = ()

    @field_validator("keywords")
    @classmethod
    def _words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for word in value:
            if not re.fullmatch(r"[a-z]+", word):
                raise ValueError(f"keywords are lower-case words (a-z), got {word!r}")
        return value


class ScriptedReplies(_Model):
    """The scripted LLM's replies (``scripted_replies.yaml``).

    Attributes:
        rules: In priority order: the first rule with a keyword the caller said wins.
        default: The reply when no rule matches.
    """

    rules: tuple[ReplyRule, ...]
    default: str = Field(min_length=1)

    def match(self, text: str) -> tuple[ReplyRule | None, str]:
        """The rule ``text`` (what the caller said) selects, and the keyword that did.

        Returns:
            ``(None, "")`` when no rule matches (the ``default`` reply).
        """
        words = re.findall(r"[a-z]+", text.lower())
        for rule in self.rules:
            keyword = next((word for word in words if word in rule.keywords), None)
            if keyword is not None:
                return rule, keyword
        return None, ""


def load_scripted_replies(path: Path | None = None) -> ScriptedReplies:
    """The scripted replies in ``path`` (default: the packaged ones).

    Raises:
        ConfigError: The file is unreadable or invalid (the message names it and the field).
    """
    path = path or data_dir() / "scripted_replies.yaml"
    return _validate(ScriptedReplies, _load_yaml(path), path)


class Site(_Model):
    """One site of the reference agent's directory (``sites.yaml``).

    Attributes:
        name: The site's name, as guests say it.
        address: Its postal address.
        duty_manager: The duty manager's number (E.164).
        hours: Its opening hours, in words.
    """

    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    duty_manager: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$")
    hours: str = Field(min_length=1)


# Words that name no site in particular ("the cafe at the Leeds site").
_FILLER = frozenset({"the", "a", "an", "at", "in", "of", "on", "our", "your", "site", "and"})


def _name_words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower())) - _FILLER


class SiteDirectory(_Model):
    """The sites the reference agent knows (``sites.yaml``).

    Attributes:
        sites: Every site, in the file's order.
    """

    sites: tuple[Site, ...] = Field(min_length=1)

    def find(self, name: str) -> Site | None:
        """The one site ``name`` names: the site sharing the most words with it.

        ``"manchester"``, ``"the Manchester site"`` and the site's full name all find it.

        Returns:
            ``None`` when no site shares a word with ``name``, or two share as many.
        """
        wanted = _name_words(name)
        scores = [(len(wanted & _name_words(site.name)), site) for site in self.sites]
        best = max(score for score, _ in scores)
        found = [site for score, site in scores if score == best]
        return found[0] if best > 0 and len(found) == 1 else None


def load_sites(path: Path | None = None) -> SiteDirectory:
    """The site directory in ``path`` (default: the packaged one).

    Raises:
        ConfigError: The file is unreadable or invalid (the message names it and the field).
    """
    path = path or data_dir() / "sites.yaml"
    return _validate(SiteDirectory, _load_yaml(path), path)


# Read once, at import: the fields' defaults (a user's file or the constructor overrides them).
_PACKAGED_RULES = _load_yaml(data_dir() / "quality_rules.yaml")


def _rule(name: str) -> Any:
    return _PACKAGED_RULES.get(name)  # a missing one fails validation, naming the field


class QualityRules(_Model):
    """Thresholds and patterns of the rule checks (``quality_rules.yaml``).

    Fields left out (of the constructor or of a user's file) keep the packaged values, so
    ``QualityRules(max_words=30)`` or a file holding only ``company: Acme`` is enough.

    Attributes:
        company: The name the greeting must say.
        max_words: Longest acceptable reply, in words.
        max_seconds: Longest acceptable reply, in seconds of bot speech.
        tts_unsafe: By name, what a TTS would read out literally (case-sensitive, multi-line).
        complaint: The caller's words that make a complaint (whole words, any case).
        praise: The caller's words that make feedback (whole words, any case).
        apology: The bot's words that make an apology (whole words, any case).
        refund_promise: Sentences that promise a refund (any case).
        negation: What makes such a sentence not a promise (any case).
    """

    model_config = ConfigDict(validate_default=True)

    company: str = Field(default=_rule("company"), min_length=1)
    max_words: int = Field(default=_rule("max_words"), gt=0)
    max_seconds: float = Field(default=_rule("max_seconds"), gt=0)
    tts_unsafe: dict[str, str] = Field(default=_rule("tts_unsafe"))
    complaint: tuple[str, ...] = Field(default=_rule("complaint"))
    praise: tuple[str, ...] = Field(default=_rule("praise"))
    apology: tuple[str, ...] = Field(default=_rule("apology"))
    refund_promise: tuple[str, ...] = Field(default=_rule("refund_promise"))
    negation: tuple[str, ...] = Field(default=_rule("negation"))

    @field_validator("complaint", "praise", "apology", "refund_promise", "negation")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            _compile(pattern)
        return value

    @field_validator("tts_unsafe")
    @classmethod
    def _named_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _compile(pattern)
        return value

    @classmethod
    def from_file(cls, path: Path) -> QualityRules:
        """:func:`load_quality_rules` of ``path``: a user's copy of ``quality_rules.yaml``."""
        return load_quality_rules(path)

    def tts_unsafe_patterns(self) -> dict[str, re.Pattern[str]]:
        """``tts_unsafe``, compiled (``^`` matches at every line)."""
        return {name: re.compile(p, re.MULTILINE) for name, p in self.tts_unsafe.items()}

    def words_pattern(self, field: Literal["complaint", "praise", "apology"]) -> re.Pattern[str]:
        """``complaint``, ``praise`` or ``apology`` as one whole-word, any-case pattern."""
        words: tuple[str, ...] = getattr(self, field)
        return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)

    def any_pattern(self, field: Literal["refund_promise", "negation"]) -> re.Pattern[str]:
        """``refund_promise`` or ``negation``: any of its patterns, any case."""
        patterns: tuple[str, ...] = getattr(self, field)
        return re.compile("|".join(patterns), re.IGNORECASE)


def _compile(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None


def load_quality_rules(path: Path | None = None) -> QualityRules:
    """The rule checks' settings in ``path`` (default: the packaged ones).

    Raises:
        ConfigError: The file is unreadable or invalid (the message names it and the field).
    """
    path = path or data_dir() / "quality_rules.yaml"
    return _validate(QualityRules, _load_yaml(path), path)


class JudgeRubric(_Model):
    """The LLM judge's instructions (``judge_rubric.md``).

    Attributes:
        version: Names the judge's cache files; change it whenever the text changes.
        text: The rubric; ``{transcript}`` marks where the call goes.
    """

    version: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    text: str = Field(min_length=1)


def load_judge_rubric(path: Path | None = None) -> JudgeRubric:
    """The judge's rubric in ``path`` (default: the packaged one): front matter with
    ``version``, then the text.

    Raises:
        ConfigError: The file is unreadable or invalid (the message names it and the field).
    """
    path = path or data_dir() / "judge_rubric.md"
    meta, body = front_matter(_read(path), path)
    return _validate(JudgeRubric, {**meta, "text": body.lstrip("\n")}, path)
