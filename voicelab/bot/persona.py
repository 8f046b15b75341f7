"""Direction-aware personas: the system prompt and greeting of each call.

Personas are versioned files (``<direction>.md``): YAML front matter with ``id``,
``version``, ``direction`` and ``greeting`` (and, optionally, ``voicemail``: the message
an outbound call leaves on an answering machine), then the system prompt. The reference
agent's prompts (Compass Group's Guest Relationship Executive) are the defaults, shipped
as package data (:func:`voicelab.defaults.personas_dir`; ``evals/prompts`` is their
editable copy); a user points ``VOICELAB_PROMPTS_DIR`` at their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from voicelab.defaults import front_matter, personas_dir
from voicelab.errors import ConfigError

__all__ = ["DEFAULT_PROMPTS_DIR", "Direction", "Persona", "load_persona"]

Direction = Literal["inbound", "outbound"]

DEFAULT_PROMPTS_DIR = personas_dir()


@dataclass(frozen=True)
class Persona:
    """What the bot is told to be on one kind of call.

    Attributes:
        id: Stable name of the persona.
        version: Bumped whenever the text changes meaningfully.
        direction: ``inbound`` or ``outbound``.
        greeting: What the bot says first.
        system_prompt: The LLM's system message.
        voicemail: Left on an answering machine that takes an outbound call (``None``:
            the bot hangs up without a message).
    """

    id: str
    version: int
    direction: Direction
    greeting: str
    system_prompt: str
    voicemail: str | None = None

    @property
    def text_hash(self) -> str:
        """Short hash of greeting + prompt (+ voicemail message), stored with each call record."""
        text = f"{self.greeting}\n{self.system_prompt}"
        if self.voicemail is not None:
            text += f"\n{self.voicemail}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_file(cls, path: Path) -> Persona:
        """Parse a persona file.

        Raises:
            ConfigError: The file is missing or malformed (the message names it).
        """
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read persona file {path}: {exc.strerror}") from None
        meta, body = front_matter(text, path)
        missing = [key for key in ("id", "version", "direction", "greeting") if key not in meta]
        if missing:
            raise ConfigError(f"{path}: front matter lacks {', '.join(missing)}")
        if meta["direction"] not in ("inbound", "outbound"):
            raise ConfigError(f"{path}: direction must be inbound or outbound")
        prompt = " ".join(body.split())
        if not prompt:
            raise ConfigError(f"{path}: the system prompt (after the front matter) is empty")
        return cls(
            id=str(meta["id"]),
            version=int(meta["version"]),
            direction=meta["direction"],
            greeting=str(meta["greeting"]).strip(),
            system_prompt=prompt,
            voicemail=" ".join(str(meta["voicemail"]).split()) if meta.get("voicemail") else None,
        )


def load_persona(direction: Direction, prompts_dir: Path | None = None) -> Persona:
    """The persona for ``direction`` from ``prompts_dir`` (default: the shipped ones)."""
    return Persona.from_file((prompts_dir or DEFAULT_PROMPTS_DIR) / f"{direction}.md")
