"""Stream one query's result from a SQLite file as Arrow IPC on stdout, with ADBC's SQLite driver.

Run as `python -m recorder.store.sqlite_export DATABASE` with the query on stdin, by
recorder.store.dialects.SqliteDialect only. It is a separate process on purpose: ADBC's driver links its own
copy of SQLite, and two SQLite libraries inside one process defeat SQLite's POSIX locks on a
database that process also has open (we saw stale reads; SQLite warns of corruption). Across
processes the locks work as designed, and this process only reads.
"""

from __future__ import annotations

import sys


def main() -> int:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    database = sys.argv[1]
    types = sys.argv[2].split(",")  # "text" or "integer", one per selected column
    query = sys.stdin.read()
    # The driver infers each column's type from its first rows and fails when a column that
    # starts with NULLs later holds text: one leading row of typed literals fixes every type; the
    # UNION ALL keeps it first, and it is dropped below.
    literals = ", ".join("''" if kind == "text" else "0" for kind in types)
    with adbc.connect(database, autocommit=True) as connection:
        cursor = connection.cursor()
        cursor.execute(f"SELECT {literals} UNION ALL {query}")
        reader = cursor.fetch_record_batch()
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as writer:
            first = True
            for batch in reader:
                writer.write_batch(batch.slice(1) if first else batch)
                first = False
        cursor.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
