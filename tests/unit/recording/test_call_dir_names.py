"""A call id names a directory only when it is a safe name part, newline included."""

from __future__ import annotations

import pytest

from voicelab.errors import CallRecordError
from voicelab.recording.store import CallRecord


@pytest.mark.parametrize("call_id", ["CA" + "0" * 32 + "\n", "../CA1", "CA 1", "", "x" * 65])
def test_unsafe_call_ids_name_no_directory(tmp_path, call_id: str) -> None:
    with pytest.raises(CallRecordError):
        CallRecord.open(tmp_path, call_id, "caller")
    assert list(tmp_path.iterdir()) in ([], [tmp_path / ".lock"])


def test_any_agents_plain_id_is_fine(tmp_path) -> None:
    record = CallRecord.open(tmp_path, "call-42_b", "caller")
    assert record.directory.name.endswith("call-42_b")
