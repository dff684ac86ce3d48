"""The Warehouse port: run one BigQuery-dialect query with named parameters, get rows as dicts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

ParamValue = str | int | float | bool | date | datetime | list[str]
Row = dict[str, Any]


class Warehouse(Protocol):
    source: str
    """The source's name in errors and reports: 'bigquery' or 'duckdb'."""

    def query(self, sql: str, params: dict[str, ParamValue]) -> list[Row]:
        """Run `sql` (BigQuery dialect, @name parameters) as one job; raise SourceError on failure."""
        ...
