"""Fuzz the media websocket with hypothesis while a good simulated call runs beside it.

The real server and carrier (``LocalNetwork``, instant fake services, real Silero VAD).
Hostile sessions (see ``media_fuzzer``) come from this thread while the good call plays on
the network's own loop. Afterwards: the server is alive, never answered a 5xx or raised
in the ASGI app, the good call completed with a complete record and every turn answered,
forged sessions left no directory, and every authentic-but-abusive session's record is
complete too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path

import pytest
import soak  # bench/soak.py: what a complete record of a simulated call is
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from loguru import logger
from media_fuzzer import BackgroundNetwork, FuzzSession, Outcome, play_session, sessions

from voicelab.config import Settings
from voicelab.recording.store import find_call_dir
from voicelab.simulator.scenario import load_scenario

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 40


def unfinished_records(root: Path, call_sids: list[str], timeout: float = 30) -> dict[str, str]:
    """Calls among ``call_sids`` whose server record started but is not complete.

    A session the server closed before its ``start`` was read (a 1009 for an oversized
    message right behind it) never became a call and has nothing to finish.
    """
    deadline = time.monotonic() + timeout
    while True:
        problems = {sid: p for sid in call_sids if (p := _record_problem(root, sid))}
        if not problems or time.monotonic() > deadline:
            return problems
        time.sleep(0.2)


def _record_problem(root: Path, call_sid: str) -> str:
    directory = find_call_dir(root, call_sid)
    events_path = directory / "events.jsonl" if directory else None
    if events_path is None or not events_path.exists():
        return ""
    try:
        events = [json.loads(line) for line in events_path.read_text().splitlines()]
        if not any(e["type"] == "call.started" for e in events):
            return ""  # status events only: no media session ran
        manifest = json.loads((directory / "call.json").read_text())  # type: ignore[operator]
    except (OSError, ValueError) as exc:
        return f"unreadable record: {exc}"
    if events[-1]["type"] != "call.ended":
        return f"events.jsonl ends in {events[-1]['type']}"
    if not manifest.get("end_reason"):
        return "call.json has no end_reason"
    return ""


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_hostile_sessions_beside_a_good_call(tmp_path):
    asgi_errors = _Collect()
    logging.getLogger("uvicorn.error").addHandler(asgi_errors)
    loguru_errors: list[str] = []
    sink: int | None = None
    outcomes: list[Outcome] = []
    settings = Settings(providers="instant", recordings_dir=tmp_path)
    scenario = load_scenario(ROOT / "evals/scenarios/cold_food.yaml")
    try:
        with BackgroundNetwork(settings) as net:
            # After the server's start-up, which sets up logging afresh.
            sink = logger.add(lambda m: loguru_errors.append(str(m)), level="ERROR")
            good = net.submit(net.network.simulate(scenario))

            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(session=sessions())
            def fuzz(session: FuzzSession) -> None:
                outcome = asyncio.run(play_session(session, net.server_url, net.auth_token))
                outcomes.append(outcome)
                assert outcome.errors == [], outcome
                assert outcome.http_status is None, f"upgrade refused: {outcome}"

            started = time.monotonic()
            fuzz()
            fuzzing_s = time.monotonic() - started
            call = good.result(timeout=120)
            # The abusive-but-authentic sessions were real calls: their records are complete.
            authentic = [o.call_sid for o in outcomes if o.kind == "authentic"]
            assert unfinished_records(tmp_path, authentic) == {}
    finally:
        if sink is not None:
            with contextlib.suppress(ValueError):  # gone if a server restarted logging
                logger.remove(sink)
        logging.getLogger("uvicorn.error").removeHandler(asgi_errors)

    assert len(outcomes) >= EXAMPLES
    # The good call: completed, complete record, every turn answered.
    assert call.status == "completed", call
    assert soak.record_problems(call.directory) == []
    assert call.caller is not None
    assert set(call.caller.v2v()) >= {1, 2}, f"unanswered turns: {call.caller.v2v()}"
    # Forged and raw sessions left nothing behind.
    for outcome in outcomes:
        if outcome.kind != "authentic":
            assert find_call_dir(tmp_path, outcome.call_sid) is None, outcome
    assert any(o.kind == "forged" and o.close_code == 1008 for o in outcomes)
    assert asgi_errors.records == [], [r.getMessage() for r in asgi_errors.records]
    crashes = [m for m in loguru_errors if "exception receiving data" in m or "Traceback" in m]
    assert crashes == []
    print(f"{len(outcomes)} hostile sessions in {fuzzing_s:.1f} s beside the good call")
