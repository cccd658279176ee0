"""Open the pictures: the audit report and an interactive chart page rendered by headless Chromium.

Needs the Debian package `chromium`. Locally a missing browser skips; in CI (CI=true) it fails,
so a CI run cannot pass without looking at the report.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from recorder.api import Recorder
from recorder.demo.workload import body_bytes, build_workload
from recorder.report import latency_chart, save_chart
from recorder.report.audit_report import write_report
from recorder.stream.ingest import ingest_chunks
from tests.conftest import IN_CI

CHROMIUM = os.environ.get("RECORDER_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        message = f"headless Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message + " (CI=true: the render test must run)")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory):
    with Recorder(f"sqlite:///{tmp_path_factory.mktemp('chromium') / 'demo.db'}") as opened:
        for execution in build_workload(executions=12, seed=7):
            ingest_chunks(opened.store, [body_bytes(execution)], source="demo", request=execution.request)
        yield opened


def _run(chromium: str, tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2000", "--virtual-time-budget=5000",
         "--enable-logging=stderr", "--v=0", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=90,
    )


def _console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line and ("Error" in line or "error" in line)]


def _distinct_pixels(png: bytes, limit: int = 4) -> int:
    """How many distinct RGB(A) values the first rows of a PNG hold (a tiny 8-bit PNG decoder)."""
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    data, pos = b"", 8
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"IDAT":
            data += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(data)
    channels = 3 if colour == 2 else 4
    stride = width * channels
    seen, previous = set(), bytearray(stride)
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):  # undo the PNG row filter
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        seen.update(bytes(line[i:i + 3]) for i in range(0, stride, channels))
        previous = line
        if len(seen) >= limit and row > 50:
            break
    return len(seen)


def test_the_audit_report_renders_with_its_charts(chromium: str, recorder: Recorder, tmp_path: Path) -> None:
    page = write_report(recorder, tmp_path / "report.html").path
    dom = _run(chromium, tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<svg") >= 3 and '<section id="lineage">' in dom.stdout
    assert not _console_errors(dom.stderr)
    shot = tmp_path / "report.png"
    result = _run(chromium, tmp_path, page, f"--screenshot={shot}")
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert _distinct_pixels(shot.read_bytes()) >= 4, "the screenshot is blank"


def test_an_interactive_chart_page_draws_with_its_inlined_javascript(chromium: str, recorder: Recorder, tmp_path: Path) -> None:
    page = save_chart(latency_chart(recorder), tmp_path / "latency.html")
    dom = _run(chromium, tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    chart = dom.stdout.split('id="chart"', 1)[1]
    assert "<svg" in chart.split("</div>", 1)[0] or "<svg" in chart[:20000], "vega-embed drew nothing"
    assert not _console_errors(dom.stderr), _console_errors(dom.stderr)
