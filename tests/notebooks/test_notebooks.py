"""Every notebook runs top to bottom in a real Jupyter kernel, on the scripted stack.

Parameters are injected papermill-style: a cell tagged ``injected-parameters`` goes right
after the notebook's ``parameters`` cell and overrides it (scripted providers, few calls,
scenario and recordings paths in a temporary directory). The kernel runs in that directory,
so nothing the notebooks write lands in the repository and no ``.env`` is read.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from nbformat import NotebookNode

# nbformat and nbclient are imported where used: nbformat's import (jsonschema with its
# format checkers) costs seconds, and every pytest run collects this module, `make check` too.

pytestmark = pytest.mark.slow  # runs every notebook with real-time calls (make check skips them)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SCENARIOS = ROOT / "evals" / "scenarios"
CELL_TIMEOUT_S = 300


def inject_parameters(nb: NotebookNode, **params: Any) -> NotebookNode:
    """Insert a cell assigning ``params`` after the cell tagged ``parameters``.

    Every name must be assigned in the parameters cell: a typo must not pass silently.
    """
    index = next(
        (
            i
            for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])
        ),
        None,
    )
    assert index is not None, "the notebook has no cell tagged 'parameters'"
    tree = ast.parse(nb.cells[index].source)
    defined = {
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    unknown = sorted(set(params) - defined)
    assert not unknown, f"not parameters of the notebook: {unknown} (it has {sorted(defined)})"
    lines = ["# Injected parameters", *(f"{name} = {value!r}" for name, value in params.items())]
    import nbformat

    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)
    return nb


def execute(nb: NotebookNode, cwd: Path) -> NotebookNode:
    """Run every cell in a fresh ``python3`` kernel; raises ``CellExecutionError`` on errors."""
    from nbclient import NotebookClient

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # inline plots
    env["ORT_DISABLE_TELEMETRY"] = "1"
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=env)
    return nb


def run(name: str, cwd: Path, **params: Any) -> NotebookNode:
    import nbformat

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    return execute(inject_parameters(nb, **params), cwd)


def text_of(nb: NotebookNode) -> str:
    """All text the notebook printed or displayed (stream, plain and HTML outputs)."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


def mime_count(nb: NotebookNode, mime: str) -> int:
    return sum(
        mime in output.get("data", {}) for cell in nb.cells for output in cell.get("outputs", [])
    )


def call_dirs(root: Path) -> list[Path]:
    return sorted(path.parent for path in root.glob("*/call.json"))


# --- the committed notebooks -------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and "parameters" in code[0].metadata.get("tags", [])
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_quickstart(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    nb = run(
        "01_quickstart",
        tmp_path,
        PROVIDERS="scripted",
        SCENARIO=str(SCENARIOS / "cold_food.yaml"),
        RECORDINGS=str(recordings),
    )
    text = text_of(nb)
    assert "<CallResult cold_food" in text and "completed" in text
    assert "<audio" in text  # the IPython Audio player
    assert mime_count(nb, "image/png") >= 1  # the timeline
    [directory] = call_dirs(recordings)
    assert json.loads((directory / "call.json").read_text())["providers"]["name"] == "scripted"
    # Quiet (issue 16): the call cell wrote ~130 stderr outputs of pipecat DEBUG lines, with
    # raw colour codes, and a TqdmWarning about IProgress.
    stderr = [
        output.get("text", "")
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if output.get("name") == "stderr"
    ]
    joined = "".join(stderr)
    assert "\x1b[" not in joined and "DEBUG" not in joined, joined[:2000]
    assert "IProgress" not in text and "TqdmWarning" not in joined
    assert len(joined.splitlines()) <= 5, joined[:2000]


@pytest.mark.slow
def test_latency(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    nb = run(
        "02_latency",
        tmp_path,
        PROVIDERS="scripted",
        SCENARIO=str(SCENARIOS / "chef_praise.yaml"),
        CALLS=2,
        CONCURRENCY=2,
        RECORDINGS=str(recordings),
    )
    assert len(call_dirs(recordings)) == 2
    assert mime_count(nb, "image/png") >= 2  # the CDF and the breakdown
    text = text_of(nb)
    assert "llm_ttft_s" in text and "p50_lo" in text


@pytest.mark.slow
def test_prompt_ab(tmp_path: Path) -> None:
    from voicelab.analysis import calls_df

    recordings = tmp_path / "recordings"
    nb = run(
        "03_prompt_ab",
        tmp_path,
        PROVIDERS="scripted",
        SCENARIOS=[str(SCENARIOS / "chef_praise.yaml")],
        CALLS=1,
        PROMPTS=str(ROOT / "evals" / "prompts"),
        RECORDINGS=str(recordings),
    )
    personas = set(calls_df(recordings, cache=False)["persona_id"])
    assert personas == {"guest-relations-inbound", "guest-relations-inbound-brief"}
    text = text_of(nb)
    assert "greeting_names_company" in text  # the quality table
    assert "median_baseline" in text  # the comparison table


@pytest.mark.slow
def test_real_twilio_skips_without_credentials(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    nb = run(
        "04_real_twilio",
        tmp_path,
        ENV_FILE=str(tmp_path / "absent.env"),
        PROVIDERS="scripted",
        RECORDINGS=str(recordings),
    )
    text = text_of(nb)
    assert "real calls will be skipped: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN" in text
    assert "skipped: no server for real calls" in text
    assert "skipped: no real call recorded" in text
    assert "<CallResult call +15557770199" in text and "completed" in text  # the rehearsal
    assert not call_dirs(recordings)  # the rehearsal is kept apart from real calls


@pytest.mark.slow
def test_regression(tmp_path: Path) -> None:
    nb = run(
        "05_regression",
        tmp_path,
        PROVIDERS="scripted",
        SCENARIOS=str(SCENARIOS),
        ONLY=["chef_praise", "greeting_barge_in", "outbound_busy"],
        CONCURRENCY=2,
        RECORDINGS=str(tmp_path / "recordings"),
    )
    text = text_of(nb)
    assert "3 of 3 scenarios passed" in text, text[-3000:]


# --- the lab in a kernel ---------------------------------------------------------------

RESTART_CELLS = [
    """
import asyncio

import httpx

from voicelab import Lab

assert asyncio.get_event_loop().is_running(), "expected the kernel's own running loop"
lab = Lab(providers="scripted", recordings_dir=RECORDINGS)
results, urls = [], []
""",
    """
lab.start()
lab.stop()
lab.start()
urls.append(lab.url)
assert httpx.get(lab.url + "/health", timeout=10).status_code == 200
results.append(lab.simulate(SCENARIO))
lab.stop()
lab.stop()  # idempotent
""",
    """
lab.start()
lab.stop()
lab.start()
urls.append(lab.url)
assert httpx.get(lab.url + "/health", timeout=10).status_code == 200
results.append(lab.simulate(SCENARIO))
lab.stop()
""",
    """
for result in results:
    assert result.status == "completed", result
    replies = result.turns_df().query("turn > 0")["bot_text"].dropna()
    assert len(replies) >= 1, result
print("restarted fine:", urls, [r.status for r in results])
""",
]


@pytest.mark.slow
def test_lab_starts_and_stops_twice_in_one_kernel(tmp_path: Path) -> None:
    """The lab's own thread and loop live beside the kernel's running loop, across restarts."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "py"}
    params = nbformat.v4.new_code_cell(
        f"RECORDINGS = {str(tmp_path / 'recordings')!r}\n"
        f"SCENARIO = {str(SCENARIOS / 'greeting_barge_in.yaml')!r}"
    )
    nb.cells = [params, *(nbformat.v4.new_code_cell(src.strip()) for src in RESTART_CELLS)]
    text = text_of(execute(nb, tmp_path))
    assert "restarted fine:" in text and "['completed', 'completed']" in text
    assert len(call_dirs(tmp_path / "recordings")) == 2


@pytest.mark.slow
def test_actions(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    nb = run(
        "06_actions",
        tmp_path,
        PROVIDERS="scripted",
        # One call that logs and transfers (angry_transfer is the regression suite's).
        SCENARIOS=[str(SCENARIOS / "allergy_concern.yaml")],
        RECORDINGS=str(recordings),
        CONCURRENCY=1,
    )
    text = text_of(nb)
    assert "log_feedback" in text and "transfer_to_duty_manager" in text  # the tool-call table
    assert "+15550100101" in text  # the transfer, in calls_df
    assert "checks passed" in text
    assert len(call_dirs(recordings)) == 1


@pytest.mark.slow
def test_judged(tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    nb = run(
        "07_judged",
        tmp_path,
        PROVIDERS="scripted",
        SCENARIO=str(SCENARIOS / "chef_praise.yaml"),
        REPEAT=2,
        CONCURRENCY=2,
        RECORDINGS=str(recordings),
    )
    text = text_of(nb)
    assert "pass_all_k" in text and "ci_low" in text  # the pass-rate tables
    verdicts = [
        json.loads(line)
        for path in (recordings / "baseline").glob("*/events.jsonl")
        for line in path.read_text().splitlines()
        if '"judge.verdict"' in line
    ]
    assert len(verdicts) == 2 and all(v["data"]["reason"] for v in verdicts)
    # The slower LLM is caught by the gate, on latency (a pass rate of 2 runs cannot be).
    assert len(call_dirs(recordings / "slow_llm")) == 2
    assert "v2v_p50_s" in text and "#ffcdd2" in text
