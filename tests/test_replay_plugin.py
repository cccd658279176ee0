"""The pytest plugin, run as a user runs it (pytester): record modes, replay, faults, redaction.

A LoopbackVellum stands in for the real API; the application code in the inner tests builds its
own client with a dummy key, as applications do, and never sees the fixture's transport.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from recorder.demo.server import LoopbackVellum, Scenario
from recorder.model.cassette import Cassette, Request, Response, lines_of_body, read_cassette, write_cassette
from tests.test_replay_support import load_sample

pytest_plugins = ("pytester",)

REAL_KEY = "k-loopback-real-2b9e"
PLUGIN = "recorder.replay.pytest_plugin"

APP = '''
import asyncio, json, os
from vellum import AsyncVellum, Vellum, VellumEnvironment

REQUEST = json.loads({request!r})
BASE = os.environ.get("APP_VELLUM_URL", "https://predict.vellum.ai")


def app_client():
    """The application's own client: a dummy key, pointed where it always points."""
    return Vellum(api_key="app-dummy-key", environment=VellumEnvironment(default=BASE, predict=BASE, documents=BASE))


def states(events):
    return [f"{{event.type}}.{{event.data.state}}" for event in events]
'''


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    registered = any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))
    plugin = () if registered else ("-p", PLUGIN)
    # hypothesis's terminal summary costs seconds per inner session; nothing here uses it
    return pytester.runpytest_inprocess(*plugin, "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *args)


@pytest.fixture
def sample(samples_dir: Path) -> tuple[dict, bytes]:
    return load_sample(samples_dir, "exec_0002")


@pytest.fixture
def app(pytester: pytest.Pytester, sample, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    truth, _ = sample
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("VELLUM_RECORD_MODE", raising=False)
    monkeypatch.delenv("VELLUM_API_KEY", raising=False)
    pytester.makepyfile(app=APP.format(request=json.dumps(truth["request"])))
    return pytester


def cassette_folder(pytester: pytest.Pytester, test: str) -> Path:
    return pytester.path / "cassettes" / "test_app_calls" / test


def write_sample_cassette(pytester: pytest.Pytester, test: str, sample, **fault) -> Path:
    truth, body = sample
    lines, ends = lines_of_body(body)
    cassette = Cassette(Request(body=truth["request"]), Response(lines=lines, ends_with_newline=ends), execution_id=truth["execution_id"])
    if fault:
        cassette = cassette.with_fault(**fault)
    return write_cassette(cassette, cassette_folder(pytester, test) / "001-recorded.cassette.json")


CALLS = '''
from app import REQUEST, app_client, states

def test_answer(vellum_replay):
    events = list(app_client().execute_workflow_stream(**REQUEST))
    assert states(events) == {states!r}
'''


def sample_states(sample) -> list[str]:
    _, body = sample
    return [f"{json.loads(line)['type']}.{json.loads(line)['data']['state']}" for line in body.splitlines()]


# -- record modes -----------------------------------------------------------------------------------------


def test_record_mode_none_fails_a_test_without_cassettes_with_how_to_record_them(app: pytest.Pytester, sample) -> None:
    app.makepyfile(test_app_calls=CALLS.format(states=sample_states(sample)))
    result = run(app, "--vellum-record-mode=none")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*test_app_calls.py::test_answer: no cassette: cassettes/test_app_calls/test_answer/ does not exist, and record mode is 'none' (from --vellum-record-mode)*",
        "*VELLUM_API_KEY=... pytest --vellum-record-mode=once 'test_app_calls.py::test_answer'*",
    ])


def test_the_default_record_mode_under_ci_is_none(app: pytest.Pytester, sample, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    app.makepyfile(test_app_calls=CALLS.format(states=sample_states(sample)))
    result = run(app)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*record mode is 'none' (from the default when CI is set)*"])


def test_record_mode_once_records_through_to_the_api_then_replays_without_it(app: pytest.Pytester, sample, monkeypatch: pytest.MonkeyPatch) -> None:
    truth, body = sample
    app.makepyfile(test_app_calls=CALLS.format(states=sample_states(sample)))
    monkeypatch.setenv("VELLUM_API_KEY", REAL_KEY)
    with LoopbackVellum(api_key=REAL_KEY) as server:
        server.expect(truth["request"], Scenario(lines=body.split(b"\n")[:-1]))
        monkeypatch.setenv("APP_VELLUM_URL", server.base_url)
        run(app, "--vellum-record-mode=once").assert_outcomes(passed=1)
        [(_, _, headers, _)] = [r for r in server.requests if r[0] == "POST"]
    assert {name.lower(): value for name, value in headers.items()}["x-api-key"] == REAL_KEY  # the real key replaced the application's dummy one on the wire
    [file] = cassette_folder(app, "test_answer").iterdir()
    assert file.name == "001-support-agent-v3.cassette.json"
    assert read_cassette(file).body() == body
    assert REAL_KEY.encode() not in file.read_bytes() and b"app-dummy-key" not in file.read_bytes()
    monkeypatch.delenv("VELLUM_API_KEY")
    run(app, "--vellum-record-mode=none").assert_outcomes(passed=1)  # the API is gone: replayed from the file


def test_record_mode_once_without_an_api_key_fails_clearly(app: pytest.Pytester, sample) -> None:
    app.makepyfile(test_app_calls=CALLS.format(states=sample_states(sample)))
    result = run(app, "--vellum-record-mode=once")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*record mode 'once' must record cassettes/test_app_calls/test_answer through to the real API, and that needs VELLUM_API_KEY*"])


def test_record_mode_all_records_again_over_existing_cassettes(app: pytest.Pytester, sample, monkeypatch: pytest.MonkeyPatch) -> None:
    truth, body = sample
    old = write_sample_cassette(app, "test_answer", sample)
    old.rename(old.with_name("001-old-name.cassette.json"))
    app.makepyfile(test_app_calls=CALLS.format(states=sample_states(sample)))
    monkeypatch.setenv("VELLUM_API_KEY", REAL_KEY)
    with LoopbackVellum(api_key=REAL_KEY) as server:
        server.expect(truth["request"], Scenario(lines=body.split(b"\n")[:-1]))
        monkeypatch.setenv("APP_VELLUM_URL", server.base_url)
        run(app, "--vellum-record-mode=all").assert_outcomes(passed=1)
        assert len([r for r in server.requests if r[0] == "POST"]) == 1
    assert [path.name for path in cassette_folder(app, "test_answer").iterdir()] == ["001-support-agent-v3.cassette.json"]


def test_recording_redacts_the_keys_the_ini_names(app: pytest.Pytester, sample, monkeypatch: pytest.MonkeyPatch) -> None:
    truth, body = sample
    query = next(item["value"] for item in truth["request"]["inputs"] if item["name"] == "query")
    app.makeini("[pytest]\nvellum_redact =\n    inputs.query\n")
    app.makepyfile(test_app_calls=CALLS.format(states=sample_states(sample)))
    monkeypatch.setenv("VELLUM_API_KEY", REAL_KEY)
    with LoopbackVellum(api_key=REAL_KEY) as server:
        server.expect(truth["request"], Scenario(lines=body.split(b"\n")[:-1]))
        monkeypatch.setenv("APP_VELLUM_URL", server.base_url)
        run(app, "--vellum-record-mode=once").assert_outcomes(passed=1)
    [file] = cassette_folder(app, "test_answer").iterdir()
    assert query.encode() not in file.read_bytes() and json.dumps(query)[1:-1].encode() not in file.read_bytes()
    run(app, "--vellum-record-mode=none").assert_outcomes(passed=1)  # a redacted input still matches


# -- replaying --------------------------------------------------------------------------------------------


def test_a_request_no_cassette_matches_fails_the_test_with_the_closest_recordings(app: pytest.Pytester, sample) -> None:
    write_sample_cassette(app, "test_other", sample)
    app.makepyfile(test_app_calls='''
from app import REQUEST, app_client

def test_other(vellum_replay):
    list(app_client().execute_workflow_stream(**{**REQUEST, "release_tag": "canary"}))
''')
    result = run(app, "--vellum-record-mode=none")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*NoMatch: no recorded exchange matches POST /v1/execute-workflow-stream*", "*1. 001-recorded.cassette.json: release_tag: asked \"canary\"*"])


def test_the_fixtures_own_client_replays_too(app: pytest.Pytester, sample) -> None:
    write_sample_cassette(app, "test_fixture_client", sample)
    app.makepyfile(test_app_calls=f'''
from app import REQUEST, states

def test_fixture_client(vellum_replay):
    assert states(vellum_replay.client().execute_workflow_stream(**REQUEST)) == {sample_states(sample)!r}
''')
    run(app, "--vellum-record-mode=none").assert_outcomes(passed=1)


def test_the_async_fixture_replays_into_the_async_client(app: pytest.Pytester, sample) -> None:
    write_sample_cassette(app, "test_async", sample)
    app.makepyfile(test_app_calls=f'''
import asyncio
from app import REQUEST, states

def test_async(async_vellum_replay):
    async def consume():
        return [event async for event in async_vellum_replay.client().execute_workflow_stream(**REQUEST)]
    assert states(asyncio.run(consume())) == {sample_states(sample)!r}
''')
    run(app, "--vellum-record-mode=none").assert_outcomes(passed=1)


def test_a_cut_cassette_makes_the_application_see_the_cut(app: pytest.Pytester, sample) -> None:
    write_sample_cassette(app, "test_cut", sample, cut_after_lines=2)
    app.makepyfile(test_app_calls='''
import httpx, pytest
from app import REQUEST, app_client

def test_cut(vellum_replay):
    seen = []
    with pytest.raises(httpx.RemoteProtocolError):
        for event in app_client().execute_workflow_stream(**REQUEST):
            seen.append(event)
    assert len(seen) == 2
''')
    run(app, "--vellum-record-mode=none").assert_outcomes(passed=1)


def test_replay_lines_feeds_a_cassette_to_any_callable(app: pytest.Pytester, sample) -> None:
    write_sample_cassette(app, "test_lines", sample)
    app.makepyfile(test_app_calls='''
import json

def test_lines(vellum_replay):
    seen = []
    assert vellum_replay.replay_lines(lambda line: seen.append(json.loads(line)["data"]["state"])) == 4
    assert seen[0] == "INITIATED"
''')
    run(app, "--vellum-record-mode=none").assert_outcomes(passed=1)


def test_the_marker_names_a_shared_cassette_folder_and_loose_matching(app: pytest.Pytester, sample) -> None:
    write_sample_cassette(app, "shared", sample)
    app.makepyfile(test_app_calls=f'''
import pytest
from app import REQUEST, app_client, states

@pytest.mark.vellum_cassette("shared", match="loose")
def test_one(vellum_replay):
    asked = {{**REQUEST, "external_id": "a-new-one", "inputs": []}}
    assert states(app_client().execute_workflow_stream(**asked)) == {sample_states(sample)!r}
''')
    run(app, "--vellum-record-mode=none").assert_outcomes(passed=1)
