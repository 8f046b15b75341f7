"""The small sweep the sweep tests run: 2 variants × 1 scenario × 2 repeats, instant providers.

The instant providers answer at once (no models), but the call is real: the server, the
carrier, the media websocket, Silero VAD and the turn strategy, so the two variants'
``vad_stop_secs`` (the silence the VAD waits for) really moves the caller's voice-to-voice latency.
"""

from __future__ import annotations

from pathlib import Path

from helpers import short_greeting_prompts

SWEEP_NAME = "turn-timeout"
VARIANTS = ("quick", "patient")


def write_sweep(directory: Path, *, repeats: int = 2, name: str = SWEEP_NAME) -> Path:
    """A sweep file, its scenario and short-greeting personas in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    short_greeting_prompts(directory / "prompts")
    (directory / "one_line.yaml").write_text(
        "description: One short line; the caller hears the reply and hangs up.\n"
        "caller: {name: Sam Patel}\n"
        "turns:\n"
        "  - say: The soup was cold.\n"
    )
    path = directory / "sweep.yaml"
    path.write_text(
        f"name: {name}\n"
        "scenarios: [one_line.yaml]\n"
        f"repeats: {repeats}\n"
        "settings: {providers: instant, prompts_dir: prompts}\n"
        "variants:\n"
        "  - name: quick\n"
        "    overrides: {vad_stop_secs: 0.2}\n"
        "  - name: patient\n"
        "    overrides: {VOICELAB_VAD_STOP_SECS: 0.8, openai_api_key: sk-not-a-real-key}\n"
    )
    return path
