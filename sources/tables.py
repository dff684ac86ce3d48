"""The BigQuery tables the canary reads, and how the embedded DuckDB warehouse mirrors them."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterable

PHASE_COMPLETIONS = "nba_orchestration.phase_completions"
SCHEDULE = "nba_reference.nba_schedule"
PREDICTIONS = "nba_predictions.player_prop_predictions"

# Phase 2's raw tables (session 204: the outputs that trigger phase 3), read by the freshness and
# volume checks an operator configures. Their columns here are the ones those checks and the demo use.
GAMEBOOK = "nba_raw.nbac_gamebook_player_stats"
SCOREBOARD = "nba_raw.nbac_scoreboard_v2"
TEAM_BOXSCORE = "nba_raw.nbac_team_boxscore"
RAW_SCHEDULE = "nba_raw.nbac_schedule"
INJURY_REPORT = "nba_raw.nbac_injury_report"
PLAYER_PROPS = "nba_raw.odds_api_player_points_props"
RAW_TABLES = (GAMEBOOK, SCOREBOARD, TEAM_BOXSCORE, RAW_SCHEDULE, INJURY_REPORT, PLAYER_PROPS)

# (column, BigQuery type); every table is partitioned by game_date. Names are unprefixed: the
# dataset prefix (staging) is applied by with_dataset_prefix to every query, and by write_duckdb.
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
    GAMEBOOK: [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("player_lookup", "STRING"),
        ("team_abbr", "STRING"),
        ("player_status", "STRING"),
        ("minutes", "STRING"),
        ("points", "INT64"),
        ("processed_at", "TIMESTAMP"),
    ],
    SCOREBOARD: [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("home_team_abbr", "STRING"),
        ("away_team_abbr", "STRING"),
        ("game_status_text", "STRING"),
        ("processed_at", "TIMESTAMP"),
    ],
    TEAM_BOXSCORE: [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("team_abbr", "STRING"),
        ("points", "INT64"),
        ("processed_at", "TIMESTAMP"),
    ],
    RAW_SCHEDULE: [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("home_team_abbr", "STRING"),
        ("away_team_abbr", "STRING"),
        ("game_status", "STRING"),
        ("processed_at", "TIMESTAMP"),
    ],
    INJURY_REPORT: [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("player_lookup", "STRING"),
        ("injury_status", "STRING"),
        ("processed_at", "TIMESTAMP"),
    ],
    PLAYER_PROPS: [
        ("game_date", "DATE"),
        ("game_id", "STRING"),
        ("player_lookup", "STRING"),
        ("bookmaker", "STRING"),
        ("points_line", "FLOAT64"),
        ("processed_at", "TIMESTAMP"),
    ],
}
PARTITION_COLUMN = "game_date"

DUCKDB_TYPES = {
    "DATE": "DATE",
    "STRING": "VARCHAR",
    "INT64": "BIGINT",
    "BOOL": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMP WITH TIME ZONE",
    "FLOAT64": "DOUBLE",
}


INSERT_CHUNK = 5000


def prefixed_table(table: str, dataset_prefix: str) -> str:
    """'nba_raw.t' with prefix 'test_' -> 'test_nba_raw.t'."""
    return f"{dataset_prefix}{table}" if dataset_prefix else table


@functools.lru_cache(maxsize=256)
def with_dataset_prefix(sql: str, dataset_prefix: str) -> str:
    """The query with every table's dataset prefixed (staging: 'test_' reads test_nba_raw, ...).

    Every warehouse adapter sends its queries through here, so no monitor names a prefixed dataset
    itself. A table read without its dataset (other than a CTE) cannot be staged: ValueError.
    """
    if not dataset_prefix:
        return sql
    import sqlglot  # only a prefixed (staging) query is parsed: no parser on an unprefixed run's cold start
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="bigquery")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.name:
            continue  # e.g. FROM UNNEST(...)
        if not table.db:
            if table.name.lower() in ctes:
                continue
            raise ValueError(f"{table.name}: a table named without its dataset cannot take the dataset prefix")
        table.set("db", exp.to_identifier(dataset_prefix + table.db))
    return tree.sql(dialect="bigquery")


_NULL = "\\N"


def _csv_value(value: Any) -> Any:
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if hasattr(value, "isoformat") else value


def _insert(db: Any, table: str, rows: list[tuple[Any, ...]], folder: Path) -> None:
    """Rows through a CSV file and COPY: DuckDB's executemany inserts one row at a time (minutes for a season)."""
    import csv
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".csv", dir=folder, delete=False, newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([_csv_value(v) for v in row] for row in rows)
    try:
        db.execute(f"COPY {table} FROM '{out.name}' (FORMAT csv, HEADER false, NULLSTR '{_NULL}')")
    finally:
        Path(out.name).unlink()


def write_duckdb(
    path: Path, rows_by_table: dict[str, Iterable[dict[str, Any]]], *, dataset_prefix: str = "",
    tables: Iterable[str] | None = None, progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """Create (or replace) the warehouse file with these rows; a dataset becomes a schema (prefixed:
    `test_` writes test_nba_raw...). `tables` (default: every table of TABLES) are created, empty or not.
    `progress(table, rows written, rows of the table)` is called after each chunk of inserts."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    with duckdb.connect(str(path)) as db:
        db.execute("SET TimeZone = 'UTC'")
        for table in TABLES if tables is None else tables:
            columns = TABLES[table]
            name = prefixed_table(table, dataset_prefix)
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {name.split('.')[0]}")
            db.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {DUCKDB_TYPES[t]}' for c, t in columns)})")
            names = [c for c, _ in columns]
            rows = [tuple(row.get(c) for c in names) for row in rows_by_table.get(table, ())]
            for start in range(0, len(rows), INSERT_CHUNK):
                _insert(db, name, rows[start : start + INSERT_CHUNK], path.parent)
                if progress is not None:
                    progress(table, min(start + INSERT_CHUNK, len(rows)), len(rows))
