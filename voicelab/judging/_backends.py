"""The judge's LLM, configured apart from the agent's: pipecat classifiers over it.

Every verdict comes from pipecat's ``EvalJudge``; what varies is the classifier that
answers its questions (pipecat's ``LLMClassifier`` over a pipecat LLM service with
``run_inference``) and the explainer that gives the reason behind a ``no``:

* ``offline``: SmolLM2 in-process through llama.cpp (the project's model pool, its lock),
  its replies held to the classifier's JSON schema by a llama.cpp grammar;
* ``openai``: any OpenAI-compatible server (``OpenAILLMService(base_url=...)``);
* ``ollama``: a local Ollama (``OLLamaLLMService``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from pipecat.classifiers.base_classifier import BaseClassifier
from pipecat.classifiers.llm.classifier import LLMClassifier
from pipecat.evals.judge import EvalJudge
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.services.llm_service import LLMService

from voicelab.bot.services.llama_cpp_llm import LlamaCppLLMService
from voicelab.bot.services.local_llm import chat_messages
from voicelab.config import Settings, load_settings, secret_value
from voicelab.errors import ConfigError

__all__ = ["CriteriaJudge", "LlamaJudgeService"]

_OPENAI_MODEL = "gpt-4o-mini"
_OLLAMA_MODEL = "llama3.2"
_OLLAMA_URL = "http://localhost:11434/v1"
_OFFLINE_MODEL = "SmolLM2-135M-Instruct-Q4_1"
_pool_lock = threading.Lock()
_pool: Any = None  # the judge's own ModelPool, when no one hands it one


class LlamaJudgeService(LlamaCppLLMService):
    """The project's llama.cpp service with pipecat's one-shot ``run_inference``.

    ``LLMClassifier`` and pipecat's explainer ask through ``run_inference``; the bot's
    service only streams replies. Greedy decoding, and a grammar compiled from the
    response schema, so SmolLM2 cannot answer outside the shape asked for.
    """

    supports_response_schema = True

    async def run_inference(
        self,
        context: LLMContext,
        max_tokens: int | None = None,
        system_instruction: str | None = None,
        response_schema: dict[str, Any] | None = None,
    ) -> str | None:
        messages = chat_messages(list(context.get_messages()))
        if system_instruction:
            messages = [{"role": "system", "content": system_instruction}] + [
                m for m in messages if m["role"] != "system"
            ]
        fmt = {"type": "json_object", "schema": response_schema} if response_schema else None

        def complete() -> str:
            with self._leases.lease() as (_, llama):
                reply = llama.create_chat_completion(
                    messages=messages,
                    max_tokens=max_tokens or 256,
                    temperature=0.0,
                    response_format=fmt,
                )
            return str(reply["choices"][0]["message"]["content"] or "")

        return await asyncio.to_thread(complete)


def _offline_pool() -> Any:
    from voicelab.bot.models import ModelPool

    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ModelPool()
        return _pool


class CriteriaJudge:
    """Makes pipecat ``EvalJudge``\\ s: a classifier that decides, an LLM that explains.

    A fresh classifier per judged call (:meth:`eval_judge`): pipecat's services hold HTTP
    clients bound to the event loop they first ran on, and each judged call runs on its own.

    Args:
        classifier: A pipecat classifier, or a callable making one per judged call.
        name: Names the judge in each verdict (``offline:<model>``, ``test:keyword``...):
            verdicts of another judge are not reused.
        explainer: A callable making the LLM service asked for the reasons (``None``: the
            reason is the classifier's probabilities).
    """

    def __init__(
        self,
        classifier: BaseClassifier | Callable[[], BaseClassifier],
        *,
        name: str,
        explainer: Callable[[], LLMService[Any] | None] | None = None,
    ) -> None:
        self._classifier = classifier
        self.name = name
        self._explainer = explainer

    def eval_judge(self) -> EvalJudge:
        """A new pipecat judge, with an empty conversation, for one judged call."""
        made = self._classifier
        classifier = made if isinstance(made, BaseClassifier) else made()
        explainer = self._explainer() if self._explainer is not None else None
        return EvalJudge(classifier, explainer=explainer, allow_continue=False)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, pool: Any = None) -> CriteriaJudge:
        """The judge ``VOICELAB_JUDGE`` and its variables configure (see :class:`Settings`).

        Nothing is loaded or contacted yet: the offline model loads at the first verdict.

        Args:
            settings: Default: read from the environment.
            pool: A :class:`~voicelab.bot.models.ModelPool` to take the offline SmolLM2
                from (a lab's, so one ``Llama`` serves both); default the judge's own.

        Raises:
            ConfigError: The judge cannot be built (``openai`` without a key, a bad URL).
        """
        settings = settings or load_settings()
        timeout = settings.judge_timeout
        if settings.judge == "offline":
            model = settings.judge_model or _OFFLINE_MODEL

            def offline() -> LlamaJudgeService:
                owner = pool or _offline_pool()
                llama = owner.llm()  # loads SmolLM2 from its PyPI package, once
                return LlamaJudgeService(llama=llama, lock=owner.llm_lock, model_name=model)

            def classifier() -> BaseClassifier:
                return LLMClassifier(llm=offline(), timeout=timeout, max_tokens=120)

            return cls(classifier, name=f"offline:{model}", explainer=offline)
        if settings.judge == "openai":
            key = secret_value(settings.judge_api_key) or ""
            if not key:
                raise ConfigError(
                    "VOICELAB_JUDGE=openai needs VOICELAB_JUDGE_API_KEY (or choose "
                    "VOICELAB_JUDGE=offline or ollama)"
                )
            model = settings.judge_model or _OPENAI_MODEL
            url = settings.judge_base_url

            def openai() -> LLMService[Any]:
                from pipecat.services.openai.llm import OpenAILLMService

                return OpenAILLMService(
                    api_key=key, base_url=url, settings=OpenAILLMService.Settings(model=model)
                )

            return cls(
                lambda: LLMClassifier(llm=openai(), timeout=timeout),
                name=f"openai:{model}",
                explainer=openai,
            )
        model = settings.judge_model or _OLLAMA_MODEL
        url = settings.judge_base_url or _OLLAMA_URL

        def ollama() -> LLMService[Any]:
            from pipecat.services.ollama.llm import OLLamaLLMService

            return OLLamaLLMService(base_url=url, settings=OLLamaLLMService.Settings(model=model))

        return cls(
            lambda: LLMClassifier(llm=ollama(), timeout=timeout),
            name=f"ollama:{model}",
            explainer=ollama,
        )
