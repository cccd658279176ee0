"""Parsing benchmark: what reading one NDJSON line costs, in microseconds per line, with no database.

    python bench/parse.py [--events N] [--shape legacy|sdk|both] [--repeat R] [--seed S] [--workdir DIR]

What is measured, per shape, on bench/ingest.py's workload (`prepare_workload`: the legacy envelopes
of the v1 stream, or with `sdk` the same executions as the v2 stream's SDK-style events), with the
whole body already in memory (reading the file is not timed):

1. split_us: `LineSplitter.feed` over the body in 1 MiB chunks, as `recorder ingest` reads it, and
   `finish()`: the bytes cut into `RawLine`s.
2. orjson_us: `orjson.loads` of every line's bytes and nothing else, the floor under any parser of
   this format.
3. parse_line_us: `parse_line` of every line: a clean event of either shape by its typed fast
   path (msgspec, recorder.model.clean_lines), any other line exactly.
4. exact_us: `parse_line_exactly` of every line, the same answers without the fast path: decoding,
   the checks made before orjson, orjson itself, and indexing into a `ParsedEvent` in Python. The
   baseline the fast path is measured against, in the same run (`fast_ratio` = exact / parse_line).
   `fast_share` is the fraction of lines the fast path read (the rest it declined).

For 2 to 4 each chunk is split untimed just before its lines are timed, as ingest parses a chunk's
lines right after cutting them: a line is then still in the CPU's cache, where lines cut from the
whole body in advance are not (touching each again costs ~0.2 us more). The four run one after the
other in every round (`--repeat R`, default 5), and each figure is the least over the rounds: other
load on the machine only ever adds time. Results are dropped as they come, so what keeping a batch of
events costs (memory, the garbage collector's walks over it) is left to bench/ingest.py, which
measures the whole path. Every line of the workload must parse as an event; a reject stops the run.

Progress lines start with `# `; the last lines are one figure each, `<shape>_<name> <value>`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import orjson
from _common import info, load_average, recorder_version, work_directory
from ingest import SEED, prepare_workload

from recorder.model.clean_lines import read_clean_event, read_clean_sdk_event
from recorder.model.events import RejectedLine, parse_line, parse_line_exactly
from recorder.model.lines import LineSplitter, RawLine
from recorder.stream.ingest import CHUNK_SIZE

SHAPES = ("legacy", "sdk")
FIGURES = ("split_us", "orjson_us", "parse_line_us", "exact_us")


def split(chunks: list[bytes]) -> list[RawLine]:
    """The body's lines, as `recorder ingest` cuts them."""
    splitter = LineSplitter()
    lines: list[RawLine] = []
    for chunk in chunks:
        lines += splitter.feed(chunk)
    last = splitter.finish()
    if last is not None:
        lines.append(last)
    return lines


def split_seconds(chunks: list[bytes]) -> float:
    start = time.perf_counter()
    split(chunks)
    return time.perf_counter() - start


def per_chunk_seconds(chunks: list[bytes], work: Callable[[list[RawLine]], object]) -> float:
    """The time `work` takes over the lines of every chunk, each chunk split (untimed) just before."""
    splitter = LineSplitter()
    taken = 0.0
    for chunk in chunks:
        lines = splitter.feed(chunk)
        start = time.perf_counter()
        work(lines)
        taken += time.perf_counter() - start
    last = splitter.finish()
    if last is not None:
        start = time.perf_counter()
        work([last])
        taken += time.perf_counter() - start
    return taken


def load_all(lines: list[RawLine]) -> None:
    loads = orjson.loads
    for line in lines:
        if not line.is_blank:
            loads(line.data)


def parse_all(lines: list[RawLine]) -> None:
    for line in lines:
        parse_line(line)


def parse_all_exactly(lines: list[RawLine]) -> None:
    for line in lines:
        parse_line_exactly(line)


def measure_shape(body_path: Path, repeat: int) -> dict[str, float]:
    """Per-line microseconds of the three figures for one workload body, least over `repeat` rounds."""
    body = body_path.read_bytes()
    chunks = [body[start:start + CHUNK_SIZE] for start in range(0, len(body), CHUNK_SIZE)]
    lines = [line for line in split(chunks) if not line.is_blank]
    rejects = [parsed for parsed in map(parse_line, lines) if isinstance(parsed, RejectedLine)]
    if rejects:
        raise RuntimeError(f"{len(rejects)} lines of the workload are rejects, the first: {rejects[0].reason}")
    count = len(lines)
    fast_share = sum(
        (read_clean_event(line.position, line.data) or read_clean_sdk_event(line.position, line.data)) is not None for line in lines
    ) / count
    info(f"{body_path.name}: {count:,} lines, {len(body) / count:.0f} bytes per line on average, all events; "
         f"the fast path reads {fast_share:.1%} of them")
    del lines, rejects
    best = dict.fromkeys(FIGURES, float("inf"))
    for round_ in range(1, repeat + 1):
        taken = {
            "split_us": split_seconds(chunks),
            "orjson_us": per_chunk_seconds(chunks, load_all),
            "parse_line_us": per_chunk_seconds(chunks, parse_all),
            "exact_us": per_chunk_seconds(chunks, parse_all_exactly),
        }
        per_line = {name: value / count * 1e6 for name, value in taken.items()}
        info(f"round {round_} of {repeat}: " + ", ".join(f"{name} {value:.2f}" for name, value in per_line.items())
             + f" (load average {load_average()})")
        best = {name: min(best[name], per_line[name]) for name in FIGURES}
    return {**best, "fast_ratio": best["exact_us"] / best["parse_line_us"], "fast_share": fast_share}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="at least this many events per shape (default 100,000)")
    parser.add_argument("--shape", choices=(*SHAPES, "both"), default="both")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; each figure is the least over them (default 5)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the generated workload here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with work_directory(args.workdir, "bench-parse-") as workdir:
        info(f"python {sys.version.split()[0]}, orjson {orjson.__version__}, msgspec {msgspec.__version__}, load average {load_average()}")
        info(f"recorder {recorder_version('model')} (source = model under recorder/)")
        figures: list[tuple[str, float]] = []
        for shape in SHAPES if args.shape == "both" else (args.shape,):
            body, _index, _meta = prepare_workload(workdir, args.events, args.seed, shape)
            best = measure_shape(body, args.repeat)
            figures += [(f"{shape}_{name}", value) for name, value in best.items()]
        for name, value in figures:
            print(f"{name} {value:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
