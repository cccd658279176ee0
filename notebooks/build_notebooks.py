"""Writes latency_analysis.ipynb and audit.ipynb (without outputs) from the cells below.

Edit here, then run `python notebooks/build_notebooks.py`; tests/test_notebooks.py executes both.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

OPEN_STORE = '''import os

from recorder import Recorder

# The demo writes ./recorder.db; point RECORDER_DATABASE_URL at any other store (PostgreSQL too).
url = os.environ.get("RECORDER_DATABASE_URL", "sqlite:///recorder.db")
recorder = Recorder(url)
executions = recorder.executions()
executions.select("execution_id", "workflow_deployment_name", "release_tag", "status", "duration_ms").head()'''

LATENCY = [
    new_markdown_cell("# Latency analysis\n\nWhere the time goes across the fleet. Run `recorder demo` in this folder first, "
                      "or set `RECORDER_DATABASE_URL`."),
    new_code_cell(OPEN_STORE),
    new_markdown_cell("## Fleet percentiles\n\nWhole executions by deployment, then node runs by node type."),
    new_code_cell('recorder.latency("deployment")'),
    new_code_cell('recorder.latency("node_type")'),
    new_markdown_cell("## The slowest nodes\n\nBy p95, with each run's duration as a tick and p50/p95/p99 marked."),
    new_code_cell('slowest = recorder.latency("node").sort("p95_ms", descending=True).head(10)\nslowest'),
    new_code_cell('from recorder.report import latency_chart\n\nlatency_chart(recorder, top=12)'),
    new_markdown_cell("## Release tags compared\n\nFor each deployment with two release tags, node by node, worst p50 slowdown first."),
    new_code_cell('''tags = recorder.sql(
    "SELECT deployment, list(DISTINCT release_tag ORDER BY release_tag) AS tags FROM executions "
    "WHERE release_tag IS NOT NULL AND deployment IS NOT NULL GROUP BY 1 HAVING count(DISTINCT release_tag) >= 2 ORDER BY 1"
)
tags'''),
    new_code_cell('''if tags.height:
    deployment, (baseline, candidate) = tags["deployment"][0], tags["tags"][0][:2]
    print(f"{deployment}: {candidate} against {baseline}")
    comparison = recorder.compare(deployment, baseline, candidate)
else:
    comparison = None
comparison'''),
    new_markdown_cell("## One execution as a waterfall\n\nThe slowest finished execution: critical path outlined, "
                      "first streamed output ticked, subworkflow and map children indented under their container."),
    new_code_cell('''import polars as pl

from recorder.report import waterfall_chart

slowest_id = executions.filter(pl.col("duration_ms").is_not_null()).sort("duration_ms", descending=True)["execution_id"][0]
timeline = recorder.timeline(slowest_id)
waterfall_chart(timeline)'''),
    new_code_cell('timeline.frame().select("node_type", "state", "duration_ms", "first_output_ms", "depth", "on_critical_path")'),
    new_markdown_cell("## Ad-hoc SQL\n\nDuckDB over the views `executions`, `events` and `node_spans`."),
    new_code_cell('''recorder.sql("""
    SELECT node_type_inferred AS node_type, count(*) AS runs,
           round(median(duration_ms), 1) AS p50_ms, round(quantile_cont(first_output_ms, 0.5), 1) AS first_output_p50_ms
    FROM node_spans WHERE duration_ms IS NOT NULL
    GROUP BY 1 ORDER BY p50_ms DESC
""")'''),
]

AUDIT = [
    new_markdown_cell("# Audit one execution\n\nFind an execution by its external id or its request metadata, "
                      "then look at its inputs, outputs, errors, timeline and lineage."),
    new_code_cell(OPEN_STORE),
    new_markdown_cell("## Find it\n\nBy `external_id` (the caller's own id) or by a metadata value."),
    new_code_cell('''import polars as pl

with_external = executions.filter(pl.col("external_id").is_not_null())
external_id = with_external["external_id"][0] if with_external.height else None
by_external = executions.filter(pl.col("external_id") == external_id)
by_external.select("execution_id", "external_id", "status", "started_at")'''),
    new_code_cell('''# Metadata is JSON on each execution; DuckDB reaches into it.
user = recorder.sql("SELECT json_extract_string(metadata, '$.user_id') AS u FROM executions WHERE u IS NOT NULL LIMIT 1")["u"][0]
recorder.sql(
    "SELECT execution_id, status, started_at FROM executions WHERE json_extract_string(metadata, '$.user_id') = ? ORDER BY started_at",
    [user],
)'''),
    new_markdown_cell("## What it was asked and what it answered\n\nA failed one if there is one, so the error shows."),
    new_code_cell('''failed = executions.filter(pl.col("status") == "REJECTED")
execution_id = (failed if failed.height else executions)["execution_id"][0]
audit = recorder.audit(execution_id)
{key: audit[key] for key in ("execution_id", "status", "workflow_deployment_name", "release_tag", "external_id", "metadata", "error")}'''),
    new_code_cell('audit["inputs"]'),
    new_code_cell('audit["outputs"]'),
    new_code_cell('pl.DataFrame([{k: e.get(k) for k in ("position", "type", "state", "node_type", "node_id")} for e in audit["events"]]).head(15)'),
    new_markdown_cell("## When each node ran"),
    new_code_cell('from recorder.report import lineage_chart, waterfall_chart\n\nwaterfall_chart(recorder.timeline(execution_id))'),
    new_markdown_cell("## Its lineage\n\nThe chain along `previous_execution_id` around a continued execution."),
    new_code_cell('''continued = executions.filter(pl.col("previous_execution_id").is_not_null())
lineage = recorder.lineage((continued if continued.height else executions)["execution_id"][0])
lineage.frame()'''),
    new_code_cell("lineage_chart(lineage)"),
]


def write(path: Path, cells: list) -> None:
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{path.stem.replace('_', '-')}-{index}"  # stable ids: regenerating changes nothing
    nbformat.validate(notebook)
    nbformat.write(notebook, path)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    write(here / "latency_analysis.ipynb", LATENCY)
    write(here / "audit.ipynb", AUDIT)
