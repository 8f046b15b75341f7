"""The agent seam: your own pipecat bot inside the lab.

An *agent* is a factory. For each call, voicelab gives it an :class:`AgentContext` (who
the call is, the settings, the process's warm models, the persona, the call's record)
and it returns :class:`AgentParts`: the pipecat processors that answer the caller. voicelab
builds the rest of the call around them, the same way for every agent::

    transport in -> FallbackSpeaker -> <parts.processors> -> transport out -> recorder
        -> <parts.after_output>

- the Twilio transport and serializer (validated media, polite hang-up),
- the stereo recorder, the event observers and the call record (``call.json``,
  ``events.jsonl``, the server WAV), so ``turns_df`` gives the agent's calls the same
  latency breakdown and analysis as the reference agent's,
- the guards (:mod:`voicelab.bot.faults`): a fallback line when a provider fails, and,
  right after the first STT, LLM and TTS service found in ``parts.processors``, the
  injected faults of ``VOICELAB_FAULTS`` and the LLM's first-token guard,
- the greeting, spoken first when the caller is connected.

The reference agent (:func:`voicelab.bot.reference_agent.reference_agent`) is built this
way too. An agent is chosen with ``VOICELAB_AGENT=module:factory``, ``Lab(agent=...)``,
``CallServer(agent=...)`` or the pytest plugin's ``--voicelab-agent``. The model pool is
the one ``VOICELAB_PROVIDERS`` needs; an agent that brings its own services runs with
``providers="instant"`` or ``"cloud"`` and loads no model.

Example::

    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair, LLMUserAggregatorParams)
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from voicelab import AgentContext, AgentParts, Lab


    def my_agent(ctx: AgentContext) -> AgentParts:
        stt, llm, tts = make_my_services(ctx.settings)   # any pipecat services
        context = LLMContext([{"role": "system", "content": "You take pizza orders."}])
        pair = LLMContextAggregatorPair(
            context, user_params=LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer()))
        return AgentParts(
            [stt, pair.user(), llm, tts],
            after_output=[pair.assistant()],
            greeting="Tony's Pizza, what can I get you?",
        )


    with Lab(agent=my_agent, providers="instant") as lab:  # or agent="my_bot:my_agent"
        lab.simulate("evals/scenarios/cold_food.yaml").turns_df()
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

from pipecat.frames.frames import Frame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameProcessor

from voicelab.bot.call import CallInfo
from voicelab.bot.persona import Direction, Persona
from voicelab.config import Settings, check_import_string
from voicelab.errors import ConfigError

if TYPE_CHECKING:
    from voicelab.bot.models import ModelPool
    from voicelab.recording.store import CallRecord

__all__ = [
    "Agent",
    "AgentContext",
    "AgentParts",
    "AgentResult",
    "AgentSpec",
    "agent_name",
    "build_agent_parts",
    "load_agent",
]

AGENT_VARIABLE = "VOICELAB_AGENT"


@dataclass(frozen=True)
class AgentContext:
    """What an agent knows about the call it is built for.

    Attributes:
        call: Who and what the call is (SIDs, direction, numbers).
        settings: The server's settings (credentials, timeouts, ``prompts_dir``...).
        pool: The process's warm model pool (Whisper, the LLM, the TTS voice), or
            ``None`` when the configured providers need none.
        persona: The persona of this call's direction (``VOICELAB_PROMPTS_DIR``).
        record: The call's record: ``record.update_manifest(variant="b")`` tags the call
            (a top-level scalar becomes a ``calls_df`` column); ``record.emit`` writes the
            event types of DESIGN.md section 3.1, on the call's clock.
    """

    call: CallInfo
    settings: Settings
    pool: ModelPool | None
    persona: Persona
    record: CallRecord

    @property
    def direction(self) -> Direction:
        return self.call.direction

    @property
    def call_sid(self) -> str:
        return self.call.call_sid

    @property
    def from_number(self) -> str:
        return self.call.from_number

    @property
    def to_number(self) -> str:
        return self.call.to_number


@dataclass
class AgentParts:
    """The agent's share of one call's pipeline.

    Attributes:
        processors: What goes between the transport's input and output: a list of pipecat
            processors (e.g. ``[stt, user_aggregator, llm, tts]``), or a whole ``Pipeline``
            (then no guard is placed inside it).
        after_output: What goes after the transport's output and the recorder, e.g. the
            assistant context aggregator (it learns what was actually spoken).
        greeting: Said first, once the caller is connected (``None``: the bot waits);
            it joins the LLM context as the bot's turn.
        first_frames: Queued after the greeting, once the caller is connected.
        persona: The persona the agent uses, for the call record (id, version, hash).
        providers: What the call record says about the services (``{"name": ...,
            "stt": {"service": ..., "model": ...}, ...}``); ``None``: voicelab describes the
            STT, LLM and TTS services it finds in ``processors``.
        guards: Place voicelab's fault injection and LLM first-token guard after the
            agent's services (the fallback speaker is always at the head).
    """

    processors: Sequence[FrameProcessor] | Pipeline
    after_output: Sequence[FrameProcessor] = ()
    greeting: str | None = None
    first_frames: Sequence[Frame] = ()
    persona: Persona | None = None
    providers: Mapping[str, Any] | None = None
    guards: bool = True


AgentResult: TypeAlias = AgentParts | Sequence[FrameProcessor] | Pipeline
"""What a factory may return: :class:`AgentParts`, or just the processors (a list or a
``Pipeline``), which is ``AgentParts(processors)``."""

Agent: TypeAlias = Callable[[AgentContext], AgentResult | Awaitable[AgentResult]]
"""An agent: builds one call's processors (a plain or an ``async`` function)."""

AgentSpec: TypeAlias = Agent | str
"""An agent, or its import string ``module:factory``."""


def load_agent(spec: AgentSpec | None, settings: Settings | None = None) -> Agent:
    """The agent ``spec`` names; the one home of the default agent.

    A string is imported, a callable is the agent. ``None`` is ``settings.agent``
    (``VOICELAB_AGENT``) when ``settings`` are given and name one, else the reference agent.
    Called once at server start, so a broken ``VOICELAB_AGENT`` stops the server with one
    clear line instead of failing every call.

    Raises:
        ConfigError: The string is malformed, its module does not import, it has no such
            attribute, or what it names is not callable (the message names
            ``VOICELAB_AGENT``).
    """
    if spec is None and settings is not None:
        spec = settings.agent
    if spec is None:
        # Imported here, not at the top: `import voicelab` stays light, and Silero VAD
        # (onnxruntime) loads only once an agent is wanted (see CallPipeline._build_agent).
        from voicelab.bot.reference_agent import reference_agent

        return reference_agent
    if isinstance(spec, str):
        return _import_agent(spec)
    if not callable(spec):
        raise ConfigError(
            f"an agent is a callable or a 'module:factory' string, not {type(spec).__name__}"
        )
    return spec


def _import_agent(spec: str) -> Agent:
    def invalid(why: str) -> ConfigError:
        return ConfigError(f"invalid setting {AGENT_VARIABLE}: {why}")

    try:
        text = check_import_string(spec)
    except ValueError as exc:
        raise invalid(str(exc)) from None
    module_name, _, attribute = text.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise invalid(f"{text!r}: no module named {exc.name!r}") from None
    except Exception as exc:
        # The user's module raised while importing: say what, keep the cause for the log.
        raise invalid(f"{text!r}: importing {module_name} failed: {exc!r}") from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise invalid(f"{text!r}: {module_name} has no attribute {attribute!r}") from None
    if not callable(target):
        raise invalid(f"{text!r} is a {type(target).__name__}, not a factory")
    agent: Agent = target
    return agent


def agent_name(agent: Agent) -> str:
    """``module:qualname`` of an agent, for the call record and the logs."""
    module = getattr(agent, "__module__", None) or type(agent).__module__
    qualname = getattr(agent, "__qualname__", None) or type(agent).__qualname__
    return f"{module}:{qualname}"


async def build_agent_parts(agent: Agent, context: AgentContext) -> AgentParts:
    """Call ``agent`` for one call and check what it returned.

    Raises:
        ConfigError: The agent returned something that is not processors.
        Exception: Whatever the agent raised (the call ends with an ``error`` event).
    """
    result = agent(context)
    if inspect.isawaitable(result):
        result = await result
    parts = result if isinstance(result, AgentParts) else AgentParts(result)
    _check_parts(parts, agent)
    return parts


def _check_parts(parts: AgentParts, agent: Agent) -> None:
    def wrong(what: str) -> ConfigError:
        return ConfigError(
            f"agent {agent_name(agent)} returned {what}: expected AgentParts, "
            "a list of pipecat FrameProcessors or a Pipeline"
        )

    processors: Any = parts.processors
    if isinstance(processors, Pipeline):
        items: list[Any] = []
    elif isinstance(processors, Sequence) and not isinstance(processors, str | bytes):
        items = list(processors)
    else:
        raise wrong(f"a {type(processors).__name__}")
    misfits = [
        type(item).__name__
        for item in (*items, *parts.after_output)
        if not isinstance(item, FrameProcessor)
    ]
    if misfits:
        raise wrong(", ".join(misfits))
