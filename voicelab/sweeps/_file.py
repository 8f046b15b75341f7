"""The sweep file: which scenarios, which variants, how many repeats (YAML, validated).

A sweep file::

    name: speech-timeout            # names the sweep in every call record
    scenarios: [../scenarios/cold_food.yaml, ../scenarios/billing_refund.yaml]
    repeats: 10                     # calls per scenario and variant
    settings: {providers: scripted} # overrides every variant starts from
    variants:
      - name: fast-turns
        overrides: {user_speech_timeout: 0.3}
      - name: slow-turns
        overrides: {VOICELAB_USER_SPEECH_TIMEOUT: 0.6, prompts_dir: prompts/v2}

Paths (scenario files or directories, path-valued settings such as ``prompts_dir``) are
relative to the sweep file. An override is any :class:`~voicelab.config.Settings` field,
by its name or its ``VOICELAB_*`` variable; each variant's settings are validated when the
file loads, so a bad value is reported with the file, field and line like every other
problem (:class:`~voicelab.errors.SweepError`), never as a failure mid-sweep.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from voicelab.config import SECRET_SETTINGS, Settings, load_settings
from voicelab.errors import ConfigError, ScenarioError, SweepError
from voicelab.simulator._scenario_yaml import Loc, ScenarioFile
from voicelab.simulator.scenario import Scenario, load_scenarios

__all__ = ["SweepFile", "Variant", "load_sweep", "public_overrides"]

_NAME = r"^[A-Za-z0-9_.-]+$"  # names end up in manifests, report columns and actor names
# The store is the sweep's (``--store`` / ``recordings_dir`` of the base settings).
_NOT_OVERRIDABLE = {"recordings_dir": "the sweep's store is set by --store, not per variant"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Model):
    """One column of the grid: a name and the settings it changes.

    Attributes:
        name: Stable name (the ``variant`` column of ``calls_df``/``turns_df``).
        description: What the variant tries, for people.
        overrides: Setting overrides, keyed by :class:`~voicelab.config.Settings` field
            name (normalised from ``VOICELAB_*`` spellings when loaded from a file).
    """

    name: str = Field(min_length=1, max_length=64, pattern=_NAME)
    description: str = ""
    overrides: dict[str, Any] = Field(default_factory=dict)


class SweepFile(_Model):
    """A validated sweep.

    Attributes:
        name: The sweep's name (the ``sweep`` column; restarts find their calls by it).
        description: What the sweep answers.
        scenarios: Scenario files or directories (resolved against the sweep file).
        repeats: Calls per (scenario, variant).
        settings: Overrides every variant starts from.
        variants: The variants compared (default: one, ``baseline``, with no overrides).
        concurrency: Calls at once (locally), or per worker (on Ray); default: the CLI's.
        path: The file it was loaded from (``None`` if built in code).
    """

    name: str = Field(min_length=1, max_length=64, pattern=_NAME)
    description: str = ""
    scenarios: list[Path] = Field(min_length=1)
    repeats: int = Field(default=1, ge=1, le=10_000)
    settings: dict[str, Any] = Field(default_factory=dict)
    variants: list[Variant] = Field(default_factory=lambda: [Variant(name="baseline")])
    concurrency: int | None = Field(default=None, ge=1, le=64)
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _distinct_variants(self) -> SweepFile:
        if not self.variants:
            raise ValueError("variants: give at least one (or leave it out for a baseline)")
        names = [v.name for v in self.variants]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"variant names must differ: {', '.join(twice)} repeated")
        return self

    def variant_overrides(self, variant: str) -> dict[str, Any]:
        """The sweep's ``settings`` with the variant's overrides on top."""
        chosen = next(v for v in self.variants if v.name == variant)
        return {**self.settings, **chosen.overrides}

    def variant_settings(self, variant: str, base: Settings | None = None) -> Settings:
        """The settings a variant's calls run with: ``base`` + sweep settings + overrides.

        Raises:
            ConfigError: An override is invalid for these base settings.
        """
        start = base.model_dump() if base is not None else {}
        return load_settings(**{**start, **self.variant_overrides(variant)})

    def load_scenarios(self) -> list[Scenario]:
        """The sweep's scenarios, loaded and validated.

        Raises:
            ScenarioError: A scenario file is invalid, missing, or two share an id.
        """
        return load_scenarios(self.scenarios)


def public_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` fit for a call record: a secret setting's value is redacted.

    Secrets are the settings typed ``SecretStr`` (:data:`~voicelab.config.SECRET_SETTINGS`),
    by field or variable name; a name that is no setting (a sweep built in code is not
    checked) is redacted too, since nothing says what it holds.
    """
    return {
        name: value if _setting_name(name) in _PUBLIC_SETTINGS else "<redacted>"
        for name, value in overrides.items()
    }


# Field names of each nested model, for "did you mean ...?".
_ALLOWED: dict[tuple[str, ...], Iterable[str]] = {
    (): [name for name in SweepFile.model_fields if name != "path"],
    ("variants",): list(Variant.model_fields),
}
_SETTING_NAMES = sorted(Settings.model_fields)
_PUBLIC_SETTINGS = frozenset(Settings.model_fields) - SECRET_SETTINGS
_ALIASES = {  # TWILIO_AUTH_TOKEN and friends are read through their own variable names
    str(alias).lower(): name
    for name, info in Settings.model_fields.items()
    for alias in getattr(info.validation_alias, "choices", ())
}


def load_sweep(path: str | Path) -> SweepFile:
    """Read and validate a sweep file, its scenarios and every variant's settings.

    Raises:
        SweepError: The file is unreadable, not YAML or invalid, a scenario in it is
            invalid or missing, or a variant's settings are invalid; each problem on its
            own line, naming the file, the field and the line.
    """
    path = Path(path)
    source = ScenarioFile(path, kind="sweep", error_type=SweepError)
    data = dict(source.data)
    if "path" in data:
        raise source.error([(("path",), "set by the loader (where the file is), not in the file")])
    base = path.parent
    problems: list[tuple[Loc, str]] = []
    data["settings"] = _overrides(data.get("settings"), ("settings",), base, problems)
    variants = data.get("variants")
    if isinstance(variants, list):
        data["variants"] = [
            {
                **v,
                "overrides": _overrides(
                    v.get("overrides"), ("variants", i, "overrides"), base, problems
                ),
            }
            if isinstance(v, dict)
            else v
            for i, v in enumerate(variants)
        ]
    scenarios = data.get("scenarios")
    if isinstance(scenarios, str):
        scenarios = [scenarios]
    if isinstance(scenarios, list):
        data["scenarios"] = [base / s if isinstance(s, str) else s for s in scenarios]
    if problems:
        raise source.error(problems)
    try:
        sweep = SweepFile.model_validate({**data, "path": path})
    except ValidationError as exc:
        raise source.validation_error(exc, _ALLOWED) from None
    for index, variant in enumerate(sweep.variants):  # each variant as a whole
        try:
            sweep.variant_settings(variant.name)
        except ConfigError as exc:
            problems.append((("variants", index, "overrides"), str(exc)))
    for index, scenario in enumerate(sweep.scenarios):
        if not scenario.exists():
            problems.append(
                (("scenarios", index), f"no such scenario file or directory: {scenario}")
            )
    if problems:
        raise source.error(problems)
    try:
        sweep.load_scenarios()
    except ScenarioError as exc:
        line = source.line(("scenarios",))
        raise SweepError(f"{path}: scenarios (line {line}): {exc}") from None
    return sweep


def _overrides(value: Any, loc: Loc, base: Path, problems: list[tuple[Loc, str]]) -> Any:
    """Settings overrides normalised to field names, each value checked on its own."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append((loc, "a mapping of setting: value"))
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = _setting_name(str(key))
        where = (*loc, str(key))
        if name is None:
            close = difflib.get_close_matches(str(key).lower(), _SETTING_NAMES, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append((where, f"not a voicelab setting{hint}"))
            continue
        if name in _NOT_OVERRIDABLE:
            problems.append((where, _NOT_OVERRIDABLE[name]))
            continue
        if _is_path(name) and isinstance(item, str):
            item = str(base / item)
        try:  # one field at a time, so the message names this key and this line
            # model_validate, not Settings(): the environment is not this file's to judge.
            Settings.model_validate({name: item})
        except ValidationError as exc:
            problems.append((where, "; ".join(str(e["msg"]) for e in exc.errors())))
            continue
        out[name] = item
    return out


def _setting_name(key: str) -> str | None:
    lowered = key.lower()
    if lowered in _ALIASES:
        return _ALIASES[lowered]
    name = re.sub(r"^voicelab_", "", lowered)
    return name if name in Settings.model_fields else None


def _is_path(name: str) -> bool:
    return "Path" in str(Settings.model_fields[name].annotation)
