"""The BigQuery tables the canary reads, and how the embedded DuckDB warehouse mirrors them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable

PHASE_COMPLETIONS = "nba_orchestration.phase_completions"
SCHEDULE = "nba_reference.nba_schedule"
PREDICTIONS = "nba_predictions.player_prop_predictions"

# (column, BigQuery type); every table is partitioned by game_date.
TABLES: dict[str, list[tuple[str, str]]] = {
    PHASE_COMPLETIONS: [
        ("game_date", "DATE"),
        ("phase", "STRING"),
        ("processor_name", "STRING"),
        ("status", "STRING"),
        ("completed_at", "TIMESTAMP"),
        ("record_count", "INT64"),
        ("execution_id", "STRING"),
    ],
    SCHEDULE: [
        ("game_id", "STRING"),
        ("game_date", "DATE"),
        ("game_start_utc", "TIMESTAMP"),
        ("game_status", "STRING"),
    ],
    PREDICTIONS: [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("player_lookup", "STRING"),
        ("system_id", "STRING"),
        ("created_at", "TIMESTAMP"),
        ("is_active", "BOOL"),
    ],
}
PARTITION_COLUMN = "game_date"

DUCKDB_TYPES = {
    "DATE": "DATE",
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMP WITH TIME ZONE",
}


INSERT_CHUNK = 5000


def write_duckdb(
    path: Path,
    rows_by_table: dict[str, Iterable[dict[str, Any]]],
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Create (or replace) the warehouse file with these rows; a dataset becomes a schema.

    `progress(table, rows written, rows of the table)` is called after each chunk of inserts."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    with duckdb.connect(str(path)) as db:
        db.execute("SET TimeZone = 'UTC'")
        for table, columns in TABLES.items():
            dataset = table.split(".")[0]
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
            db.execute(f"CREATE TABLE {table} ({', '.join(f'{c} {DUCKDB_TYPES[t]}' for c, t in columns)})")
            names = [c for c, _ in columns]
            rows = [tuple(row.get(c) for c in names) for row in rows_by_table.get(table, ())]
            for start in range(0, len(rows), INSERT_CHUNK):
                insert = f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})"
                db.executemany(insert, rows[start : start + INSERT_CHUNK])
                if progress is not None:
                    progress(table, min(start + INSERT_CHUNK, len(rows)), len(rows))
