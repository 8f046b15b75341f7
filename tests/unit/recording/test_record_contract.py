"""The record contract in code: writers validate against it, loaders' columns agree with it.

As inspect_ai checks its log columns against its models: every column the loaders read
from ``call.json`` or an event's ``data`` is a field of ``voicelab.recording.contract``
with the same type, and every scalar field the contract declares is a column (or is named
as kept in ``extra``). A field written but never loaded, or loaded but never written, is
the drift this catches (``stop_secs``, ``cut_off``, ``sequence``, ``duration`` did).
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pyarrow as pa
import pytest
from pydantic import BaseModel

from voicelab.analysis._calls import MANIFEST_COLUMNS
from voicelab.analysis._events import DATA_FIELDS, KEPT_IN_EXTRA
from voicelab.errors import CallRecordError
from voicelab.recording.contract import EVENT_DATA, CallManifest
from voicelab.recording.events import EVENT_TYPES
from voicelab.recording.store import CallRecord

_SCALARS = {int: pa.int64(), float: pa.float64(), str: pa.string(), bool: pa.bool_()}


def _scalar(annotation: Any) -> pa.DataType | None:
    """The arrow type of a scalar annotation (optional or not), else None."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (typing.Union, types.UnionType):
        return _scalar(args[0]) if len(args) == 1 else None
    if get_origin(annotation) is Literal:
        return pa.string() if all(isinstance(a, str) for a in args) else None
    return _SCALARS.get(annotation)


def _event_fields() -> dict[str, set[pa.DataType]]:
    found: dict[str, set[pa.DataType]] = {}
    for model in EVENT_DATA.values():
        for name, info in model.model_fields.items():
            typ = _scalar(info.annotation)
            if typ is not None:
                found.setdefault(info.alias or name, set()).add(typ)
    return found


def test_every_event_type_has_a_data_model_and_only_those_are_known() -> None:
    assert set(EVENT_DATA) == EVENT_TYPES


def test_every_events_column_is_a_contract_field_of_the_same_type() -> None:
    fields = _event_fields()
    for column, (typ, _) in DATA_FIELDS.items():
        assert column in fields, f"events_df column {column!r}: no event type writes it"
        assert fields[column] == {typ}, f"{column}: contract {fields[column]}, column {typ}"


def test_every_scalar_contract_field_is_a_column_or_kept_in_extra() -> None:
    for name, types_ in _event_fields().items():
        assert len(types_) == 1, f"{name!r} has several types across event types: {types_}"
        assert name in DATA_FIELDS or name in KEPT_IN_EXTRA, f"{name!r} is written, never loaded"


def _resolves(model: type[BaseModel], path: str) -> pa.DataType | None:
    """The scalar type at ``path`` ("a.b") of the manifest model, if it is declared there."""
    head, _, rest = path.partition(".")
    field = next(
        (f for n, f in model.model_fields.items() if (f.alias or n) == head),
        None,
    )
    if field is None:
        raise KeyError(path)
    options = [a for a in get_args(field.annotation) or (field.annotation,) if a is not type(None)]
    if rest:
        nested = next(
            (a for a in options if isinstance(a, type) and issubclass(a, BaseModel)), None
        )
        if nested is None:
            raise KeyError(path)
        return _resolves(nested, rest)
    return next((t for t in map(_scalar, options) if t is not None), None)


@pytest.mark.parametrize("column", list(MANIFEST_COLUMNS))
def test_every_calls_column_reads_a_declared_manifest_field(column: str) -> None:
    # The first path is where today's writers put it; later ones read older records.
    typ, paths = MANIFEST_COLUMNS[column]
    try:
        declared = _resolves(CallManifest, paths[0])
    except KeyError:
        pytest.fail(f"calls_df {column!r} reads {paths[0]!r}: not a field of call.json")
    if typ != pa.timestamp("us", tz="UTC"):  # timestamps are ISO strings in the file
        assert declared == typ, f"{column}: call.json has {declared}, the column {typ}"


# --- the writers check what they write -----------------------------------------------------------


def test_an_event_with_an_undeclared_or_mistyped_field_is_refused(tmp_path: Path) -> None:
    record = CallRecord(tmp_path, "server")
    with pytest.raises(CallRecordError, match=r"stt\.transcript event: turns"):
        record.emit("stt.transcript", turns=1, text="hi", final=True)
    with pytest.raises(CallRecordError, match="error event: fatal"):
        record.emit("error", message="boom", fatal="yes please")
    with pytest.raises(CallRecordError, match="unknown call event type"):
        record.emit("made.up")
    written = record.emit("vad.stopped", turn=2, stop_secs=0.2)
    assert written.data == {"turn": 2, "stop_secs": 0.2}


def test_a_manifest_field_of_the_wrong_shape_is_refused_and_tags_pass(tmp_path: Path) -> None:
    record = CallRecord(tmp_path, "server")
    with pytest.raises(CallRecordError, match="end_reason"):
        record.update_manifest(end_reason="it just stopped")
    with pytest.raises(CallRecordError, match="persona"):
        record.update_manifest(persona="a string, not {id, version, text_hash}")
    record.update_manifest(call_sid="CA" + "1" * 32, **{"from": "+15550001111"}, variant="b")
    assert record.read_manifest() == {
        "call_sid": "CA" + "1" * 32,
        "from": "+15550001111",
        "variant": "b",
    }


def test_the_hand_written_fixtures_meet_the_contract() -> None:
    import json

    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "calls"
    for manifest in fixtures.glob("*/call.json"):
        data = json.loads(manifest.read_text())
        CallManifest.model_validate(data)
        for line in (manifest.parent / "events.jsonl").read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the fixtures' deliberately broken lines (the loaders' tolerance)
            if event["type"] in EVENT_DATA:
                EVENT_DATA[event["type"]].model_validate(event["data"])
