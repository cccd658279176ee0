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
    """A driver's record batches, renamed, cast and compacted one batch at a time, so the peak
    memory of a pull stays near the size of what is kept."""
    import pyarrow as pa

    return concat([compact(pa.Table.from_batches([batch]).rename_columns(schema.names).cast(schema)) for batch in batches], schema)


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
