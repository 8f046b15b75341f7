"""One-time media-stream tokens: once, for that CallSid, inside the window, bounded memory."""

from __future__ import annotations

import pytest

from voicelab.server.stream_tokens import StreamTokens

CALL = "CA" + "1" * 32
OTHER = "CA" + "2" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_token_opens_its_call_once(clock):
    tokens = StreamTokens(30, clock=clock)
    token = tokens.issue(CALL)
    assert len(token) >= 40
    assert tokens.redeem(CALL, token)
    assert not tokens.redeem(CALL, token), "a replayed token is refused"


def test_a_token_opens_only_its_own_call(clock):
    tokens = StreamTokens(30, clock=clock)
    token = tokens.issue(CALL)
    tokens.issue(OTHER)
    assert not tokens.redeem(OTHER, token)
    assert tokens.redeem(CALL, token), "the failed try did not spend the right token"


def test_a_wrong_guess_does_not_lock_the_real_call_out(clock):
    tokens = StreamTokens(30, clock=clock)
    token = tokens.issue(CALL)
    for guess in ["", "x", token[:-1], token + "x", None, 42, "\ud800"]:
        assert not tokens.redeem(CALL, guess)
    assert tokens.redeem(CALL, token)


def test_tokens_expire_after_the_window(clock):
    tokens = StreamTokens(30, clock=clock)
    token = tokens.issue(CALL)
    clock.now += 30
    assert not tokens.redeem(CALL, token)
    assert len(tokens) == 0, "an expired token is dropped when it is tried"


def test_a_token_is_good_just_inside_the_window(clock):
    tokens = StreamTokens(30, clock=clock)
    token = tokens.issue(CALL)
    clock.now += 29.9
    assert tokens.redeem(CALL, token)


def test_a_replayed_webhook_gets_the_same_token_and_cannot_cancel_the_real_one(clock):
    # Issue 15: each replay of a captured webhook used to issue a new token, cancelling
    # the real call's (the real caller got 1008) and handing the replayer a fresh one.
    tokens = StreamTokens(30, clock=clock)
    first = tokens.issue(CALL)
    clock.now += 10
    assert tokens.issue(CALL) == first
    assert tokens.redeem(CALL, first)
    assert tokens.issue(CALL) == first, "spent, and still the call's one token"
    assert not tokens.redeem(CALL, first)
    clock.now += 19.9
    assert not tokens.redeem(CALL, tokens.issue(CALL)), "the window did not restart"


def test_expired_tokens_are_pruned_when_new_ones_are_issued(clock):
    tokens = StreamTokens(30, clock=clock)
    for i in range(100):
        tokens.issue(f"CA{i:032x}")
    clock.now += 31
    tokens.issue(CALL)
    assert len(tokens) == 1


def test_outstanding_tokens_are_capped_oldest_first(clock):
    tokens = StreamTokens(30, max_outstanding=10, clock=clock)
    oldest = tokens.issue(CALL)
    for i in range(10):
        tokens.issue(f"CA{i:032x}")
    assert len(tokens) == 10
    assert not tokens.redeem(CALL, oldest), "the oldest token made room"


def test_tokens_are_random():
    tokens = StreamTokens(30)
    assert len({tokens.issue(f"CA{i:032x}") for i in range(50)}) == 50
