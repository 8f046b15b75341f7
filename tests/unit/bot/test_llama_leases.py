"""Several llama.cpp contexts lent one reply at a time: replies of different calls run at
once instead of queueing behind one ``Llama`` (six offline calls queued 7.8 s at p90)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from voicelab.bot.models import ModelPool
from voicelab.bot.services import LlamaCppLLMService
from voicelab.bot.services.llama_leases import LlamaLeases


def _inside_together(leases: LlamaLeases, borrowers: int) -> tuple[int, set[int]]:
    """How many borrowers were ever inside at once, and which contexts they got."""
    inside, peak, got = 0, 0, set()
    guard = threading.Lock()
    release = threading.Event()

    def borrow() -> None:
        nonlocal inside, peak
        with leases.lease() as (index, _):
            with guard:
                inside += 1
                peak = max(peak, inside)
                got.add(index)
                if inside == leases.size:
                    release.set()
            release.wait(2)  # hold the context until all that can be inside are
            with guard:
                inside -= 1

    with ThreadPoolExecutor(borrowers) as pool:
        list(pool.map(lambda _: borrow(), range(borrowers)))
    return peak, got


def test_two_contexts_serve_two_replies_at_once_never_three() -> None:
    leases = LlamaLeases([(object(), threading.Lock()), (object(), threading.Lock())])
    peak, got = _inside_together(leases, 5)
    assert peak == 2 and got == {0, 1}


def test_one_context_serves_one_reply_at_a_time() -> None:
    leases = LlamaLeases([(object(), threading.Lock())])
    assert _inside_together(leases, 3) == (1, {0})


def test_a_call_gets_its_last_context_back_when_it_is_free() -> None:
    a, b = object(), object()
    leases = LlamaLeases([(a, threading.Lock()), (b, threading.Lock())])
    with leases.lease(prefer=1) as (index, llama):
        assert (index, llama) == (1, b)
        with leases.lease(prefer=1) as (other, _):  # taken: the free one instead
            assert other == 0


def test_a_lease_waits_for_a_lock_another_user_of_the_context_holds() -> None:
    shared = threading.Lock()  # the pool's llm_lock: the judge and callers use it too
    leases = LlamaLeases([(object(), shared)])
    entered = threading.Event()
    shared.acquire()
    worker = threading.Thread(target=lambda: leases.lease().__enter__() and entered.set())
    worker.start()
    assert not entered.wait(0.2)
    shared.release()
    worker.join(2)
    assert entered.is_set()


def test_no_contexts_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one context"):
        LlamaLeases([])


@pytest.mark.slow  # loads SmolLM2 twice
def test_a_pool_of_two_contexts_answers_two_calls_at_once() -> None:
    pool = ModelPool(llm_threads=1, llm_contexts=2)
    leases = pool.llm_leases()
    assert leases.size == 2 and pool.llm_leases() is leases  # built once
    (first, _), (second, _) = leases._contexts
    assert first is pool.llm() and second is not first  # two contexts, one model file
    services = [LlamaCppLLMService(leases=leases, max_tokens=20) for _ in range(2)]
    messages = [{"role": "user", "content": "The soup was cold."}]
    with ThreadPoolExecutor(2) as run:
        replies = list(
            run.map(lambda s: "".join(s.stream_reply(messages, threading.Event())), services)
        )
    assert all(reply.strip() for reply in replies), replies
    assert {s._context for s in services} == {0, 1}  # each call held a context of its own
