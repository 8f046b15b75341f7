"""The report in a real browser: headless Chromium renders it, screenshots it, dumps its DOM.

Debian's ``chromium`` package (``.ci/run`` installs it). Without it the test fails when
``CI`` is set, and skips with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from report_tree import CORRUPT_MANIFEST, FAILING, write_report_tree

from voicelab.analysis import CallRecordWarning, build_report

WIDTH, HEIGHT = 1280, 2000


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    why = "chromium is not installed: apt-get install -y chromium (Debian's package)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; .ci/run installs it before `make test`", pytrace=False)
    pytest.skip(why)


def _render(page: Path, work: Path) -> tuple[np.ndarray, str]:
    """Chromium's screenshot of ``page`` (RGB pixels) and its DOM after rendering."""
    png = work / f"{page.stem}.png"
    profile = work / f"profile-{page.stem}"  # fresh: no state from another run
    result = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            # No network here: nothing may wait on it (QUIC, updates, sync, pings).
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png}",
            f"--window-size={WIDTH},{HEIGHT}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert png.is_file(), f"no screenshot: {result.stderr[-2000:]}"
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
    return pixels, result.stdout


def _share(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 6) -> float:
    """The share of the screenshot's pixels within ``tolerance`` of ``colour``."""
    return float((np.abs(pixels - np.array(colour)).max(axis=2) <= tolerance).mean())


@pytest.mark.slow  # a real browser: 8 s
def test_the_report_renders_in_chromium(tmp_path: Path) -> None:
    _chromium()  # fail or skip before any work
    root = write_report_tree(tmp_path / "recordings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CallRecordWarning)
        report = build_report(root, by="scenario")
    assert report.html_path is not None
    blank = tmp_path / "blank.html"
    blank.write_text("<!doctype html><html><body></body></html>", encoding="utf-8")

    pixels, dom = _render(report.html_path, tmp_path)
    empty, _ = _render(blank, tmp_path)

    assert pixels.shape == (HEIGHT, WIDTH, 3)
    # Not blank: a white page is one colour; the report differs from it almost everywhere
    # (its background) and draws text, cards and tables over it.
    assert empty.std() < 1
    assert np.abs(pixels - empty).mean() > 5 and pixels.std() > 10
    # The stylesheet applied: the page's grey background, the warnings box's amber and
    # the red of the failed check (its badge, the checks card).
    assert _share(pixels, (246, 247, 249)) > 0.3
    assert _share(pixels, (254, 243, 199)) > 0.01
    assert _share(pixels, (185, 28, 28), tolerance=40) > 0.0005

    # The DOM as rendered: a row per call, each holding its transcript and players.
    assert dom.count('<details class="call"') == 3
    assert f'id="call-{FAILING}"' in dom
    assert dom.count("The soup was cold and I waited 10 minutes.") == 2
    assert dom.count("<audio controls") == 4 and 'preload="none"' in dom
    assert dom.count('<svg class="timeline"') == 3
    assert f"{root / CORRUPT_MANIFEST}: unreadable manifest" in dom
    # The hostile reply is text: the browser built no script or image from it.
    assert "<script" not in dom and '<img src="x"' not in dom
    assert "&lt;script&gt;alert('pwned')&lt;/script&gt;" in dom
