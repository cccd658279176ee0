"""What a node sends, by kind: its STREAMING events while it runs and its FULFILLED payload.

`STREAMERS` and `FULFILLERS` map a node kind to the function that builds its events, so every
kind's code is one grep away. Each takes the execution's builder (which encodes and timestamps
events) and the node run; a fulfiller returns (value handed downstream, payload, output_values).
"""

from __future__ import annotations

import json
from functools import partial

from recorder.demo.execution import DELTA_HOLE, ID_HOLE, ExecutionBuilder, Fulfilled, Fulfiller, Run, Streamer
from recorder.demo.random_values import WORDS, fresh_id, jitter, sentence, stable_id


# -- STREAMING events, and the children of containers ----------------------------------------------------


def stream_prompt(builder: ExecutionBuilder, run: Run) -> None:
    rng = builder.rng
    run.prompt_exec = fresh_id(rng)
    tokens = [w for _ in range(rng.randint(1, 4 if run.spec.feeds else 2)) for w in sentence(rng, 6, 16)]
    run.text, chunks, i = " ".join(tokens), [], 0
    while i < len(tokens):  # a chunk is one to three words
        step = jitter(rng, 1, 3)
        chunks.append((" " if i else "") + " ".join(tokens[i:i + step]))
        i += step
    first = run.start + int((run.end - run.start) * rng.uniform(0.12, 0.35))  # time to first token
    gaps = [rng.expovariate(1.0) for _ in chunks]
    scale = ((run.cut if run.fate == "fail" else run.end) - first - 300) / sum(gaps)
    node_t = builder.template("NODE", builder.node_data(
        run, "STREAMING", ID_HOLE, builder.prompt_payload(run, run.prompt_exec, delta=DELTA_HOLE), output=None, output_index=None))
    feeds = run.spec.feeds if run.source is None else ""  # only root prompts feed workflow outputs
    wf_t = builder.template("WORKFLOW", builder.workflow_data(
        "STREAMING", ID_HOLE, output=builder.workflow_output(feeds, "STREAMING", "STRING", delta=DELTA_HOLE))) if feeds else ()
    ts = first
    for delta, gap in zip(chunks, gaps, strict=True):
        if ts >= run.cut:
            break
        builder.push_delta(ts, node_t, delta)
        if feeds and ts == first:
            builder.streamed.add(feeds)
            builder.push_workflow("STREAMING", ts + 6, output=builder.workflow_output(feeds, "INITIATED", "STRING"))
        if feeds:  # mirrored by another thread, sometimes within the same microsecond (not before INITIATED)
            lag = 0 if ts != first and rng.random() < 0.1 else jitter(rng, 8, 40)
            builder.push_delta(ts + lag, wf_t, delta)
        ts += max(60, int(gap * scale))


def stream_subworkflow(builder: ExecutionBuilder, run: Run) -> None:
    for child_run in run.iterations[0][3]:
        builder.emit(child_run)


def stream_map(builder: ExecutionBuilder, run: Run) -> None:
    out_id, last = builder.definition_id(run, "output"), run.spec.children[-1].name
    for index, (child, it_start, it_end, runs) in enumerate(run.iterations):
        if it_start >= run.cut:
            continue
        payload = {"type": "MAP", "data": {"execution_ids": [child], "iteration_state": "INITIATED"}}
        builder.push_node(run, "STREAMING", it_start, payload, output=None, output_index=index)
        for child_run in runs:
            builder.emit(child_run)
        if it_end < run.cut:
            kind, value = builder.values[(child, last)]
            payload = {"type": "MAP", "data": {"execution_ids": [child], "iteration_state": "FULFILLED"}}
            output = {"type": kind, "value": value, "node_output_id": out_id, "state": "STREAMING"}
            builder.push_node(run, "STREAMING", it_end, payload, output=output, output_index=index)


# -- FULFILLED ------------------------------------------------------------------------------------------


def _outputs(builder: ExecutionBuilder, run: Run, *outputs: tuple[str, str, object]) -> list[dict]:
    return [{"type": kind, "value": value, "node_output_id": builder.definition_id(run, role),
             "state": "FULFILLED"} for role, kind, value in outputs]


def fulfill_prompt(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    payload = builder.prompt_payload(run, exec_id=run.prompt_exec, text=run.text, meta=True)
    array = [{"type": "STRING", "value": run.text}]
    outputs = _outputs(builder, run, ("output", "STRING", run.text), ("array_output", "ARRAY", array))
    return ("STRING", run.text), payload, outputs


def fulfill_search(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    rng, sid = builder.rng, partial(builder.definition_id, run)
    results = [{"text": " ".join(sentence(rng, 8, 16)), "score": round(rng.uniform(0.55, 0.95), 4),
                "keywords": rng.sample(WORDS[:30], 2),
                "document": {"id": stable_id("doc", str(d)), "label": f"kb-{d}.pdf", "external_id": f"doc-{d}",
                             "metadata": None},
                "meta": {"source": {"document_type": "PDF", "start_page_num": 1, "end_page_num": 2}}}
               for d in rng.sample(range(100, 400), rng.randint(1, 3))]
    text = "\n\n".join(r["text"] for r in results)
    payload = {"type": "SEARCH", "data": {"results_output_id": sid("results"), "results": results,
                                          "text_output_id": sid("text"), "text": text}}
    outputs = _outputs(builder, run, ("results", "SEARCH_RESULTS", results), ("text", "STRING", text))
    return ("STRING", text), payload, outputs


def fulfill_templating(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    kind, value = builder.values.get((run.source, run.spec.after[0]), ("", "")) if run.spec.after else ("", "")
    text = f"Context: {value if kind == 'STRING' else builder.query}"[:240]
    output = {"id": builder.definition_id(run, "output"), "type": "STRING", "value": text}
    payload = {"type": "TEMPLATING", "data": {"output": output}}
    return ("STRING", text), payload, _outputs(builder, run, ("output", "STRING", text))


def fulfill_code_execution(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    rng, kind, sid = builder.rng, run.spec.out_type, partial(builder.definition_id, run)
    sections = int(builder.inputs.get("max_sections", 1))
    value = round(rng.random(), 4) if kind == "NUMBER" else {
        "category": rng.choice(("billing", "shipping", "account")), "sections": sections}
    payload = {"type": "CODE_EXECUTION", "data": {"output": {"id": sid("output"), "type": kind, "value": value},
                                                  "log_output_id": sid("log")}}
    log = f"processed {rng.randint(1, 40)} records\n"
    return (kind, value), payload, _outputs(builder, run, ("output", kind, value), ("log", "STRING", log))


def fulfill_api(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    rng, sid = builder.rng, partial(builder.definition_id, run)
    body = {"id": f"C{rng.randint(1000, 9999)}", "plan": rng.choice(("free", "pro", "enterprise")),
            "active": rng.random() < 0.9}
    text = json.dumps(body, ensure_ascii=False)
    payload = {"type": "API", "data": {"json": body, "text_output_id": sid("text"), "text": text,
                                       "json_output_id": sid("json"), "status_code_output_id": sid("status"),
                                       "status_code": 200}}
    outputs = _outputs(builder, run, ("json", "JSON", body), ("text", "STRING", text), ("status", "NUMBER", 200.0))
    return ("JSON", body), payload, outputs


def fulfill_conditional(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    port = builder.definition_id(run, "port", "0" if builder.rng.random() < 0.75 else "1")
    return ("STRING", port), {"type": "CONDITIONAL", "data": {"source_handle_id": port}}, []


def fulfill_terminal(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    kind, value = builder.values[(run.source, run.spec.after[0])]
    owner = ("output", run.spec.name) if run.source is None else (run.spec.name, "output")
    out_id = stable_id(builder.dep.name, *owner)
    output = {"id": out_id, "name": run.spec.name, "type": kind, "value": value}
    payload = {"type": "TERMINAL", "data": {"output": output}}
    return (kind, value), payload, [{"type": kind, "value": value, "node_output_id": out_id, "state": "FULFILLED"}]


def fulfill_subworkflow(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    child = run.iterations[0][0]
    main = builder.values[(child, run.spec.children[-1].name)]
    return main, {"type": "SUBWORKFLOW", "data": {"execution_id": child}}, _outputs(builder, run, ("output", *main))


def fulfill_map(builder: ExecutionBuilder, run: Run) -> Fulfilled:
    last = run.spec.children[-1].name
    items = [dict(zip(("type", "value"), builder.values[(it[0], last)], strict=True)) for it in run.iterations]
    payload = {"type": "MAP", "data": {"execution_ids": [it[0] for it in run.iterations], "iteration_state": None}}
    return ("ARRAY", items), payload, _outputs(builder, run, ("output", "ARRAY", items))


STREAMERS: dict[str, Streamer] = {
    "PROMPT": stream_prompt,
    "SUBWORKFLOW": stream_subworkflow,
    "MAP": stream_map,
}
FULFILLERS: dict[str, Fulfiller] = {
    "PROMPT": fulfill_prompt,
    "SEARCH": fulfill_search,
    "TEMPLATING": fulfill_templating,
    "CODE_EXECUTION": fulfill_code_execution,
    "API": fulfill_api,
    "CONDITIONAL": fulfill_conditional,
    "TERMINAL": fulfill_terminal,
    "SUBWORKFLOW": fulfill_subworkflow,
    "MAP": fulfill_map,
}
