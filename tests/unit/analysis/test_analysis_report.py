"""The report as a page a team shares: summary, checks, calls, warnings, words not columns."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from analysis_fixtures import FIXTURES, INBOUND, INBOUND_DIR, OUTBOUND
from report_tree import CORRUPT_MANIFEST, FAILING, HOSTILE, write_report_tree

from voicelab.analysis import CallRecordWarning, Report, build_report
from voicelab.errors import NotFoundError


class _Page(HTMLParser):
    """The elements of a page that the tests look at, as the parser sees them.

    ``headers`` holds the texts of table headers and of the calls' header row.
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.headers: list[str] = []
        self._th = False
        self._head_divs = 0  # depth inside <div class='row head'>
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        self._th = self._th or tag == "th"
        if tag == "div" and (self._head_divs or found.get("class") == "row head"):
            self._head_divs += 1

    def handle_endtag(self, tag: str) -> None:
        self._th = self._th and tag != "th"
        if tag == "div" and self._head_divs:
            self._head_divs -= 1

    def handle_data(self, data: str) -> None:
        if (self._th or self._head_divs) and data.strip():
            self.headers.append(data.strip())

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_report_tree(tmp_path / "recordings")


def _report(root: Path, **kwargs: object) -> Report:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CallRecordWarning)
        return build_report(root, **kwargs)  # type: ignore[arg-type]


def test_the_page_has_a_summary_checks_calls_and_warnings(tree: Path) -> None:
    report = _report(tree, by="scenario")
    assert report.by == "scenario_id"  # the README's --by scenario
    html = report.html_path.read_text(encoding="utf-8")
    page = _Page(html)
    # The summary: counts in words, the checks' pass rate, latency with units, errors.
    assert "3 calls in" in html and "2 simulated, 1 real; 6 caller turns" in html
    assert "Scenario checks passed</div><div class='big'>88%</div>" in html  # 7 of 8
    assert "7 of 8 checks; 1 of 2 calls failed one" in html
    assert "Median wait for a reply</div><div class='big'>0.95 s</div>" in html
    # One expandable row per call, failing ones first; each opens to its transcript.
    rows = page.all("details", **{"class": "call"})
    assert [r["id"] for r in rows] == [f"call-{FAILING}", f"call-{OUTBOUND}", f"call-{INBOUND}"]
    assert html.count("<span class='said'>Caller</span>The soup was cold and I waited") == 2
    assert "<td class='num' title='As the caller hears it." in html  # per-turn latency
    assert html.count("<svg class='timeline'") == 3
    # Per-scenario checks: the failing expectation, why, and the reply it read.
    assert "<span class='badge fail'>✗ failed</span>" in html
    assert "Reply to line 2 matches /sorry|apologi[sz]e/" in html
    assert f"{FAILING}: /sorry|apologi[sz]e/ unmatched in the reply &quot;Noted. &lt;script" in html
    # The corrupt manifest, named on the page.
    assert f"<li>{tree / CORRUPT_MANIFEST}: unreadable manifest" in html
    assert report.warnings == [next(w for w in report.warnings if CORRUPT_MANIFEST in w)]


def test_headers_are_words_with_explanations_not_column_names(tree: Path) -> None:
    page = _Page(_report(tree).html_path.read_text(encoding="utf-8"))
    assert page.headers, "no table headers found"
    assert not [h for h in page.headers if "_" in h], page.headers
    assert {"Median", "p95", "Slowest", "Calls passed", "Median reply"} <= set(page.headers)
    titled = page.all("th") + page.all("span")
    explained = [a["title"] for a in titled if a.get("title")]
    assert any("19 replies in 20" in t for t in explained)  # p95, explained on hover
    glossary = page.all("dl", **{"class": "glossary"})
    assert glossary


def test_the_breakdown_says_why_medians_do_not_add_up(tree: Path) -> None:
    report = _report(tree)
    breakdown = report.summary["breakdown"].set_index("part")
    parts = breakdown.drop("total")
    # Means add up to the mean total; the medians' sum is not the median total.
    assert parts["mean"].sum() == pytest.approx(breakdown.at["total", "mean"])
    assert parts["median"].sum() == pytest.approx(0.85, abs=0.005)
    assert breakdown.at["total", "median"] == pytest.approx(0.95, abs=0.005)
    html = report.html_path.read_text(encoding="utf-8")
    assert "Medians do not add up" in html
    assert "The stage medians above, summed</td><td class='num aside'>0.85 s" in html
    text = report.to_text()
    assert "means add up to the mean total; their medians need not add up" in text


def test_audio_is_linked_relative_to_the_page_and_works_when_moved(
    tree: Path, tmp_path: Path
) -> None:
    for target in (None, tmp_path / "shared" / "out" / "report.html"):
        report = _report(tree, path=target)
        page = _Page(report.html_path.read_text(encoding="utf-8"))
        sources = [a["src"] for a in page.all("audio") if a.get("src")]
        assert len(sources) == 4  # two simulated calls: caller.wav + the server's WAV each
        assert all(a.get("preload") == "none" for a in page.all("audio"))
        for src in sources:
            assert not src.startswith(("/", "file:")), src
            assert (report.html_path.parent / unquote(src)).is_file(), src
    # Zipped and unpacked elsewhere: the page and the records move together.
    moved = shutil.copytree(tree, tmp_path / "unzipped")
    page = _Page((moved / "report.html").read_text(encoding="utf-8"))
    assert all((moved / unquote(a["src"] or "")).is_file() for a in page.all("audio"))


def test_records_are_escaped_everywhere(tree: Path) -> None:
    manifest = tree / "01_quickstart" / f"20250301-103000_{FAILING}" / "call.json"
    data = json.loads(manifest.read_text())
    data["scenario_id"] = HOSTILE
    manifest.write_text(json.dumps(data))
    report = _report(tree, by="scenario")
    html = report.html_path.read_text(encoding="utf-8")
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in html  # shown, inert
    assert not [t for t, a in _Page(html).tags if t in {"script", "img"} and a.get("src") == "x"]


def test_a_corrupt_manifest_is_listed_on_every_report(tree: Path) -> None:
    corrupt = str(tree / CORRUPT_MANIFEST)
    for _ in range(2):  # a notebook's second run: Python shows a warning only once
        with pytest.warns(CallRecordWarning, match=re.escape(corrupt)):
            report = build_report(tree)
        assert [w for w in report.warnings if w.startswith(f"{corrupt}: unreadable manifest")]
        text = report.to_text()
        assert "1 warning\n  - " + corrupt in text


def test_invalid_expectations_cost_their_call_its_checks_not_the_report(tree: Path) -> None:
    manifest = tree / "01_quickstart" / f"20250301-103000_{FAILING}" / "call.json"
    data = json.loads(manifest.read_text())
    data["expectations"] = [{"turn": 1, "contains": []}]  # says nothing to check: invalid
    manifest.write_text(json.dumps(data))
    report = _report(tree)
    assert [w for w in report.warnings if "invalid scenario expectations" in w]
    checks = report.summary["checks"]
    assert set(checks["calls"]) == {1}  # the other simulated call's checks still run


def test_text_output_is_readable_and_plural_correct(tree: Path, tmp_path: Path) -> None:
    text = _report(tree).to_text()
    assert text.startswith(f"voicelab report: {tree} (3 calls)")
    assert "Calls            3 calls (2 simulated, 1 real), 6 caller turns" in text
    assert "_s " not in text and "v2v" not in text and "p50_lo" not in text
    assert "FAIL  Reply to line 2 matches /sorry|apologi[sz]e/: 1 of 2 calls passed" in text
    assert "Calls needing attention: 2 calls failed a check or logged an error" in text
    one = tmp_path / "one"
    shutil.copytree(FIXTURES / INBOUND_DIR, one / INBOUND_DIR)
    single = _report(one)
    assert "(1 call)" in single.to_text() and "1 calls" not in single.to_text()
    html = single.html_path.read_text(encoding="utf-8")
    assert "1 call in" in html and "1 calls" not in html


def test_many_calls_show_the_failing_ones_first_within_a_limit(tree: Path) -> None:
    report = _report(tree, max_calls=1)
    html = report.html_path.read_text(encoding="utf-8")
    assert [r["id"] for r in _Page(html).all("details", **{"class": "call"})] == [f"call-{FAILING}"]
    assert "Showing 1 of 3 calls: the 1 that failed a check or logged an error" in html
    assert len(report.summary["per_call"]) == 3  # the summaries still cover every call


def test_by_accepts_aliases_and_lists_them_when_unknown(tree: Path) -> None:
    from voicelab.analysis.report import BY_ALIASES  # the one place aliases are defined

    assert BY_ALIASES["scenario"] == "scenario_id"
    assert _report(tree, by="scenario_id").by == "scenario_id"
    with pytest.raises(ValueError, match=r"use one of scenario \(scenario_id\), persona") as info:
        _report(tree, by="scenarios")
    assert "variant" in str(info.value)  # and the calls_df columns


def test_an_empty_tree_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "recordings" / "01_quickstart").mkdir(parents=True)
    with pytest.raises(NotFoundError, match="no call records under"):
        build_report(tmp_path / "recordings")
    broken = tmp_path / "broken" / "20250301-101500_CAx"
    broken.mkdir(parents=True)
    (broken / "call.json").write_text("{")
    with pytest.warns(CallRecordWarning), pytest.raises(NotFoundError, match="1 skipped"):
        build_report(tmp_path / "broken")
    assert not (tmp_path / "broken" / "report.html").exists()
