"""CLI start-up benchmark: how long a person waits for `recorder --help` and a small listing.

    python bench/cli_start.py [--runs N] [--executions E]

Times three commands, each as a fresh process (the wall time from spawn to exit, what a shell
user waits for):

- python_pass_s: `python -c pass`, the interpreter alone: the floor everything else stands on;
- help_s: `recorder --help` (the console script beside this interpreter);
- executions_json_s: `recorder --db sqlite:///... executions --json` on a store of E executions
  (default 20, from `recorder.demo.workload`, ingested before anything is timed).

Each round runs the three once, in turn, so a burst of load elsewhere hits them alike; the figure
is the median over N rounds (default 15), after one untimed warm-up round (compiled bytecode, page
cache). Ratios divide by python_pass_s of the same run. Targets (from the issue): help_s < 0.25 and
ratio_help < 5; executions_json_s < 0.6.

The last lines are one figure per line, `<name> <value>`; everything else starts with `# `.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import info, load_average, recorder_version

SEED = 7


def recorder_command() -> list[str]:
    """The console script installed beside this interpreter, else `python -m recorder.cli`."""
    script = Path(sys.executable).parent / "recorder"
    return [str(script)] if script.exists() else [sys.executable, "-m", "recorder.cli"]


def build_store(path: Path, executions: int) -> str:
    from recorder.api import Recorder
    from recorder.demo.workload import build_workload

    url = f"sqlite:///{path}"
    recorder = Recorder(url)
    try:
        for execution in build_workload(executions=executions, seed=SEED):
            recorder.ingest_lines(execution.lines, request=execution.request, source="bench")
    finally:
        recorder.close()
    return url


def wall_time(command: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit; the command must succeed."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed rounds (median reported); default 15")
    parser.add_argument("--executions", type=int, default=20, help="executions in the small store; default 20")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    info(f"recorder {recorder_version('cli', 'store', 'api.py', '__init__.py')}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
    workdir = Path(tempfile.mkdtemp(prefix="bench-cli-start-"))
    try:
        url = build_store(workdir / "small.db", args.executions)
        info(f"store: {args.executions} executions in {url}")
        env = {**os.environ, "COLUMNS": "160"}
        env.pop("RECORDER_DATABASE_URL", None)
        commands = {
            "python_pass_s": [sys.executable, "-c", "pass"],
            "help_s": [*recorder_command(), "--help"],
            "executions_json_s": [*recorder_command(), "--db", url, "executions", "--json"],
        }
        for command in commands.values():
            wall_time(command, env)  # warm-up, untimed
        samples: dict[str, list[float]] = {name: [] for name in commands}
        load_before = load_average()
        for _ in range(args.runs):
            for name, command in commands.items():
                samples[name].append(wall_time(command, env))
        info(f"{args.runs} rounds; load average {load_before} before, {load_average()} after")
        for name, values in samples.items():
            info(f"{name}: min {min(values):.3f} median {statistics.median(values):.3f} max {max(values):.3f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    median = {name: statistics.median(values) for name, values in samples.items()}
    print(f"python_pass_s {median['python_pass_s']:.3f}")
    print(f"help_s {median['help_s']:.3f}")
    print(f"executions_json_s {median['executions_json_s']:.3f}")
    print(f"ratio_help {median['help_s'] / median['python_pass_s']:.1f}")
    print(f"ratio_executions_json {median['executions_json_s'] / median['python_pass_s']:.1f}")


if __name__ == "__main__":
    main()
