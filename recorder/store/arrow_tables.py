"""Rows into Arrow the same way on both engines: typed, and with repetitive text compacted.

pyarrow is imported inside each function: a plain install (no analytics extra) imports the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from sqlalchemy import Engine

# Ids repeated on every event of an execution or run, and the small vocabularies.
_DICTIONARY_COLUMNS = frozenset({"execution_id", "type", "state", "node_id", "node_type", "source_execution_id", "flags",
                                 "deployment", "workflow_deployment_name", "workflow_deployment_id", "release_tag", "status",
                                 "model_name"})
_BATCH_ROWS = 50_000


def compact(table: pa.Table) -> pa.Table:
    """Dictionary-encode the repetitive text columns: a third of the memory, and DuckDB reads them as text."""
    import pyarrow.compute as pc

    import pyarrow as pa

    for name in _DICTIONARY_COLUMNS.intersection(table.column_names):
        index = table.column_names.index(name)
        if not pa.types.is_dictionary(table.schema.field(index).type):
            table = table.set_column(index, name, pc.dictionary_encode(table.column(index)))
    return table


def rows_to_table(rows: Sequence[Sequence[Any]], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    if not rows:
        return schema.empty_table()
    columns = zip(*rows)
    return pa.Table.from_arrays([pa.array(column, type=field.type) for column, field in zip(columns, schema)], schema=schema)


def from_batches(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """A driver's record batches, renamed, cast and compacted a slice of about _BATCH_ROWS rows at
    a time, so the peak memory of a pull stays near the size of what is kept. Slices, not the
    driver's own batches: ADBC's SQLite driver sends 1,024 rows a batch, and compacting each one
    alone cost a second per 460,000 spans (most of a cold fleet pull)."""
    import pyarrow as pa

    tables: list[pa.Table] = []
    pending: list[pa.RecordBatch] = []
    rows = 0

    def take() -> None:
        tables.append(compact(pa.Table.from_batches(pending).rename_columns(schema.names).cast(schema)))
        pending.clear()

    for batch in batches:
        pending.append(batch)
        rows += batch.num_rows
        if rows >= _BATCH_ROWS:
            take()
            rows = 0
    if pending:
        take()
    return concat(tables, schema)


def concat(tables: list[pa.Table], schema: pa.Schema) -> pa.Table:
    import pyarrow as pa

    return pa.concat_tables(tables) if tables else compact(schema.empty_table())


def fetch_dbapi(engine: Engine, sql: str, schema: pa.Schema) -> pa.Table:
    """The raw DB-API cursor, in large batches transposed into Arrow arrays and compacted batch by
    batch, so the Python rows of one batch are all that is held beside the result."""
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        batches = []
        while rows := cursor.fetchmany(_BATCH_ROWS):
            batches.append(compact(rows_to_table(rows, schema)))
        cursor.close()
    finally:
        connection.close()
    return concat(batches, schema)
