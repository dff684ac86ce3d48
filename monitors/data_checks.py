"""What the table checks (freshness, volume) share: the replay window, names an operator may give,
and one warehouse query for every check of a monitor, each check's failure kept to that check.

Every check contributes one or more SELECT branches of the same shape, joined with UNION ALL:

    check_name STRING, game_date DATE, loaded_at TIMESTAMP, row_count INT64, column_name STRING, null_count INT64

Rows are grouped by partition date and by the minute of their load time, so a judge can ignore what was
loaded after the moment it judges (a replay of history); only a check without a load-time column
counts its rows as of the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Iterable

from pydantic import AfterValidator

from monitors.base import FetchWindow
from sources.errors import SourceError
from sources.tables import SCHEDULE
from sources.warehouse import ParamValue, Row, Warehouse

SCHEDULE_CHECK = "@schedule"
"""The check_name of the branch counting each date's games (never a configured name: '@' is not allowed)."""


Window = FetchWindow
"""The game dates to fetch rows for, and the latest load time to read (a run: today, now): the shared
window of monitors.base, which a replay widens to a whole range."""


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}\.[A-Za-z_][A-Za-z0-9_]{0,1023}$")


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"expected a column name (letters, digits, underscores), got {value!r}")
    return value


def _table(value: str) -> str:
    if not _TABLE.match(value):
        raise ValueError(f"expected dataset.table without the dataset prefix (e.g. nba_raw.nbac_schedule), got {value!r}")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
TableName = Annotated[str, AfterValidator(_table)]


def off_without_entries(data: Any, entries: str) -> Any:
    """A monitor whose list of tables/checks is empty is off unless `enabled` says otherwise (and then it
    must have entries): the shipped canary.toml carries these checks as commented examples."""
    if isinstance(data, dict):
        if "enabled" not in data:
            return {**data, "enabled": bool(data.get(entries))}
        if data["enabled"] and not data.get(entries):
            raise ValueError(f"enabled with no {entries}: add at least one entry or set enabled = false")
    return data


def reject_duplicates(names: list[str], entries: str) -> None:
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise ValueError(f"{entries}: {duplicate} is listed twice")


@dataclass(frozen=True)
class Branch:
    """One SELECT of a monitor's query, and the check it belongs to."""

    check: str
    sql: str
    params: dict[str, ParamValue]


_NULL_COLUMNS = "CAST(NULL AS STRING) AS column_name, CAST(NULL AS INT64) AS null_count"


def count_branch(
    *, check: str, index: int, table: str, partition_field: str, loaded_at_field: str | None,
    first: date, last: date, until: datetime, column: str | None = None,
) -> Branch:
    """Rows (and, for `column`, its NULLs) of `table` per partition date and minute of load, loaded up to `until`."""
    prefix = f"b{index}_"
    if loaded_at_field:
        loaded = f"MAX({loaded_at_field}) AS loaded_at"
        moment = f" AND {loaded_at_field} <= @{prefix}until"
        group = f"{partition_field}, TIMESTAMP_TRUNC({loaded_at_field}, MINUTE)"
    else:
        loaded, moment, group = "CAST(NULL AS TIMESTAMP) AS loaded_at", "", partition_field
    nulls = f"@{prefix}column AS column_name, COUNTIF({column} IS NULL) AS null_count" if column else _NULL_COLUMNS
    sql = (
        f"SELECT @{prefix}check AS check_name, {partition_field} AS game_date, {loaded}, COUNT(*) AS row_count, {nulls}\n"
        f"FROM {table}\n"
        f"WHERE {partition_field} BETWEEN @{prefix}first AND @{prefix}last{moment}\n"
        f"GROUP BY {group}"
    )
    params: dict[str, ParamValue] = {f"{prefix}check": check, f"{prefix}first": first, f"{prefix}last": last}
    if loaded_at_field:
        params[f"{prefix}until"] = until
    if column:
        params[f"{prefix}column"] = column
    return Branch(check=check, sql=sql, params=params)


def schedule_branch(*, first: date, last: date) -> Branch:
    """The games of each date that are not postponed or cancelled (the schedule decides what a game day is)."""
    sql = (
        f"SELECT @games_check AS check_name, game_date AS game_date, CAST(NULL AS TIMESTAMP) AS loaded_at, "
        f"COUNT(DISTINCT game_id) AS row_count, {_NULL_COLUMNS}\n"
        f"FROM {SCHEDULE}\n"
        "WHERE game_date BETWEEN @games_first AND @games_last\n"
        "  AND COALESCE(game_status, 'scheduled') NOT IN ('postponed', 'cancelled')\n"
        "GROUP BY game_date"
    )
    return Branch(check=SCHEDULE_CHECK, sql=sql, params={"games_check": SCHEDULE_CHECK, "games_first": first, "games_last": last})


def union_query(branches: Iterable[Branch]) -> str:
    return "\nUNION ALL\n".join(b.sql for b in branches)


# What BigQuery ("Not found: Table", "Unrecognized name") and DuckDB ("Catalog Error", "Binder Error")
# say when a query names a table or column that does not exist.
_MISSING = re.compile(r"not found|unrecognized name|does not exist|catalog error|binder error|no such", re.IGNORECASE)


def fetch_branches(warehouse: Warehouse, branches: list[Branch]) -> list[Row]:
    """All branches in one query. When it fails because something it names does not exist, each check is
    queried alone once, so the failure becomes that check's row {check_name, error} and the others are read.
    Any other failure (permission, timeout), or every check failing, is the monitor's error (SourceError)."""
    params: dict[str, ParamValue] = {name: value for b in branches for name, value in b.params.items()}
    try:
        return warehouse.query(union_query(branches), params)
    except SourceError as error:
        if not _MISSING.search(error.message) or len({b.check for b in branches}) < 2:
            raise
    rows: list[Row] = []
    failures: list[SourceError] = []
    by_check: dict[str, list[Branch]] = {}
    for branch in branches:
        by_check.setdefault(branch.check, []).append(branch)
    for check, own in by_check.items():
        try:
            rows += warehouse.query(union_query(own), {n: v for b in own for n, v in b.params.items()})
        except SourceError as error:
            failures.append(error)
            rows.append({"check_name": check, "error": error.message, "source": error.source})
    if len(failures) == len(by_check):
        raise failures[0]
    return rows


def games_by_date(rows: list[Row]) -> dict[date, int]:
    return {r["game_date"]: int(r["row_count"]) for r in rows if r["check_name"] == SCHEDULE_CHECK and "error" not in r}


def errors_by_check(rows: list[Row]) -> dict[str, Row]:
    return {r["check_name"]: r for r in rows if "error" in r}


def loaded_by(rows: list[Row], check: str, now: datetime) -> list[Row]:
    """The check's rows loaded at or before `now` (rows without a load time count as loaded)."""
    return [
        r for r in rows
        if r["check_name"] == check and "error" not in r and (r["loaded_at"] is None or r["loaded_at"] <= now)
    ]


def dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
