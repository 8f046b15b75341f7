"""The reference agent's tools: what a Guest Relationship Executive does besides talking.

Four functions, registered with pipecat's own function calling (``llm.register_function``
and a ``ToolsSchema`` of ``FunctionSchema``\\ s in the call's ``LLMContext``), so a cloud
LLM calls them through real function calling and the scripted LLM through the same frames:

- ``log_feedback(site, item, issue, severity)``: a ticket (``FB-`` and six digits, the same
  for the same call and count); the feedback goes into ``call.json``'s ``feedback`` list.
- ``lookup_site(name)``: the site from the packaged directory (``defaults/sites.yaml``).
- ``transfer_to_duty_manager(reason)``: once the bot has said what it was saying, the call is
  updated over Twilio's REST API with ``<Say>`` + ``<Dial>`` TwiML (the duty manager's number
  is ``VOICELAB_DUTY_MANAGER_NUMBER``); ``call.json`` gets ``transferred_to``. Without Twilio
  credentials, or when Twilio refuses, the result is an error the LLM can say.
- ``end_call()``: ends the call after what the bot is saying (pipecat's ``EndWorkerFrame``,
  behind the goodbye: the serializer then hangs up through Twilio's REST API).

The calls themselves (name, arguments, result) are pipecat's function-call frames, for a
function-call observer to record like any agent's; the tools record only their domain state
(``feedback``, ``transferred_to``) with ``record.update_manifest``.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

import aiohttp
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    EndWorkerFrame,
    Frame,
    FunctionCallResultProperties,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.llm_service import FunctionCallParams, LLMService
from twilio.base.exceptions import TwilioException

from voicelab.defaults import SiteDirectory, load_sites
from voicelab.telephony.rest import create_twilio_client
from voicelab.telephony.twiml import transfer_twiml

if TYPE_CHECKING:
    from voicelab.bot.agent import AgentContext

__all__ = [
    "SCHEMAS",
    "SEVERITIES",
    "TOOLS_PROMPT",
    "TRANSFER_LINE",
    "GuestRelationsTools",
    "SpeechWatch",
]

TOOLS_PROMPT = (
    "You can act, not only talk. Log every complaint or compliment with log_feedback and tell"
    " the guest its ticket number. Look a site up with lookup_site when the guest names one."
    " If the guest is upset, asks for a manager or mentions an allergy, say you are putting"
    " them through and call transfer_to_duty_manager. When the conversation is over, say"
    " goodbye and then call end_call."
)
"""Added to the system prompt when the LLM is given the tools."""

TRANSFER_LINE = "Please hold while I connect you to the duty manager."
"""What Twilio says (``<Say>``) before it dials the duty manager."""

SEVERITIES = ("low", "medium", "high")
_TRANSFER_TIMEOUT_S = 10.0  # Twilio answers an update in well under a second

SCHEMAS = ToolsSchema(
    standard_tools=[
        FunctionSchema(
            name="log_feedback",
            description=(
                "Log a guest's feedback about a site. Returns the ticket number to tell them."
            ),
            properties={
                "site": {"type": "string", "description": "The site, as the guest named it."},
                "item": {"type": "string", "description": "The dish, drink or service."},
                "issue": {"type": "string", "description": "What happened, in a few words."},
                "severity": {
                    "type": "string",
                    "enum": list(SEVERITIES),
                    "description": (
                        "high: an allergy, illness, injury or safety risk; medium: a complaint;"
                        " low: a suggestion or praise."
                    ),
                },
            },
            required=["site", "item", "issue", "severity"],
        ),
        FunctionSchema(
            name="lookup_site",
            description="Find a Compass Group site by name: its address and opening hours.",
            properties={"name": {"type": "string", "description": "The site's name."}},
            required=["name"],
        ),
        FunctionSchema(
            name="transfer_to_duty_manager",
            description=(
                "Put the caller through to the duty manager: for an upset guest, a guest who"
                " asks for a manager, or any allergy or safety issue."
            ),
            properties={"reason": {"type": "string", "description": "Why, in a few words."}},
            required=["reason"],
        ),
        FunctionSchema(
            name="end_call",
            description="Hang up. Call it only after you have said goodbye.",
            properties={},
            required=[],
        ),
    ]
)
"""The four tools' schemas, as the LLM sees them."""


class SpeechWatch(FrameProcessor):
    """Knows when the bot has finished saying what it is saying.

    Placed after the transport's output, where the bot's speaking state arrives as it is
    played. A transfer waits for it: updating the call ends the bot's stream at once, and
    the caller would otherwise lose the sentence announcing the transfer.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._speaking = False
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame):
            self._speaking = True
            self._stopped.clear()
            self._started.set()
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._speaking = False
            self._stopped.set()
        await self.push_frame(frame, direction)

    async def finished(self, *, start_within: float = 2.0, timeout: float = 30.0) -> None:
        """Return once the bot is quiet: its speech (or speech about to start) has played.

        Args:
            start_within: How long speech on its way may take to start (an LLM's sentence
                still in the TTS); quiet for that long, the bot has nothing to say.
            timeout: The longest wait for the speech to end.
        """
        if not self._speaking:
            self._started.clear()
            try:
                await asyncio.wait_for(self._started.wait(), start_within)
            except TimeoutError:
                return
        try:
            await asyncio.wait_for(self._stopped.wait(), timeout)
        except TimeoutError:
            logger.warning(f"{self}: the bot is still speaking after {timeout:g} s")


class GuestRelationsTools:
    """The reference agent's four tools for one call.

    Args:
        ctx: The call (its SID, settings and record).
        speech: What a transfer waits on (``None``: it does not wait).
        sites: The site directory (default: the packaged ``sites.yaml``).
    """

    schemas = SCHEMAS

    def __init__(
        self,
        ctx: AgentContext,
        speech: SpeechWatch | None = None,
        sites: SiteDirectory | None = None,
    ) -> None:
        self._ctx = ctx
        self._speech = speech
        self._sites = sites or load_sites()
        self.feedback: list[dict[str, Any]] = []
        self.transferred_to: str | None = None

    def register(self, llm: LLMService[Any]) -> None:
        """Register the four handlers with ``llm`` (pipecat's ``register_function``)."""
        llm.register_function("log_feedback", self.log_feedback)
        llm.register_function("lookup_site", self.lookup_site)
        llm.register_function("transfer_to_duty_manager", self.transfer_to_duty_manager)
        llm.register_function("end_call", self.end_call)

    def ticket(self, number: int) -> str:
        """The ``number``-th ticket of this call (from 1): ``FB-`` and six digits."""
        digest = hashlib.sha256(f"{self._ctx.call_sid}:{number}".encode()).hexdigest()
        return f"FB-{int(digest, 16) % 1_000_000:06d}"

    async def log_feedback(self, params: FunctionCallParams) -> None:
        """Log the feedback in ``call.json``; the result is its ticket."""
        args = params.arguments
        severity = str(args.get("severity", "")).strip().lower()
        if severity not in SEVERITIES:
            await params.result_callback(
                {"error": f"severity must be low, medium or high, not {severity or 'missing'}"}
            )
            return
        entry = {
            "ticket": self.ticket(len(self.feedback) + 1),
            "site": _text(args.get("site")),
            "item": _text(args.get("item")),
            "issue": _text(args.get("issue")),
            "severity": severity,
        }
        self.feedback.append(entry)
        # The whole list each time: update_manifest replaces a key (only *_history appends).
        self._ctx.record.update_manifest(feedback=self.feedback)
        await params.result_callback({"ticket": entry["ticket"]})

    async def lookup_site(self, params: FunctionCallParams) -> None:
        """The site ``name`` names, or an error listing the sites."""
        name = _text(params.arguments.get("name")) or ""
        site = self._sites.find(name)
        if site is None:
            known = ", ".join(s.name for s in self._sites.sites)
            await params.result_callback(
                {"error": f"no single site matches {name!r}; the sites are: {known}"}
            )
            return
        await params.result_callback(site.model_dump())

    async def transfer_to_duty_manager(self, params: FunctionCallParams) -> None:
        """Hand the call to the duty manager: Twilio says a line, then dials them."""
        settings = self._ctx.settings
        number = settings.duty_manager_number
        if not settings.twilio_configured:
            await params.result_callback(
                {"error": "transfers are not available on this line (no Twilio credentials)"}
            )
            return
        if self._speech is not None:
            await self._speech.finished()  # the caller hears the bot announce the transfer
        twiml = transfer_twiml(number, TRANSFER_LINE)
        client = create_twilio_client(settings)
        try:
            call = client.calls(self._ctx.call_sid)
            await asyncio.wait_for(call.update_async(twiml=twiml), _TRANSFER_TIMEOUT_S)
        except (TwilioException, aiohttp.ClientError, OSError, TimeoutError) as exc:
            # The call stays with the bot, which can say so (the result is the LLM's).
            logger.warning(f"call {self._ctx.call_sid}: the transfer failed: {exc}")
            await params.result_callback({"error": f"the transfer failed: {_reason(exc)}"})
            return
        finally:
            await client.http_client.close()
        self.transferred_to = number
        self._ctx.record.update_manifest(transferred_to=number)
        logger.info(f"call {self._ctx.call_sid}: transferred to the duty manager")
        # Twilio now runs the new TwiML and stops the bot's stream: nothing more to say.
        await params.result_callback(
            {"transferred_to": number}, properties=FunctionCallResultProperties(run_llm=False)
        )

    async def end_call(self, params: FunctionCallParams) -> None:
        """End the call once the goodbye has been said."""
        await params.result_callback(
            {"ended": True}, properties=FunctionCallResultProperties(run_llm=False)
        )
        # Downstream, behind the goodbye on its way to the TTS: the worker ends the call
        # once it has been played (and the serializer hangs up through Twilio).
        await params.llm.push_frame(EndWorkerFrame(reason="end_call: the agent said goodbye"))


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _reason(exc: Exception) -> str:
    message = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
    return str(message).splitlines()[0][:200]
