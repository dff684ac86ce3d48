"""Build a pipeline's state for a test: rows of the three tables and the IAM policies, in one place.

The same Scenario is written to the local backend (DuckDB + JSON file) or loaded into local servers
standing in for BigQuery and the Cloud Run Admin API, so one scenario suite runs on both backends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from demo.pipeline import PHASE_PROCESSORS, healthy_push_chain, invoker_policy, scheduler_jobs
from monitors.scheduler_jobs import watched_jobs
from tests.production import CONFIG, PIPELINE, PUSH_MEMBER, SERVICES
from sources.tables import PHASE_COMPLETIONS, PREDICTIONS, SCHEDULE, write_duckdb

NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    """'2026-11-21T23:30' (or with Z) as an aware UTC datetime."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=timezone.utc)


def local(day: date, hh_mm: str, zone: ZoneInfo = NEW_YORK) -> datetime:
    """League-local wall time on `day` as an aware UTC datetime."""
    return datetime.combine(day, time.fromisoformat(hh_mm), tzinfo=zone).astimezone(timezone.utc)


@dataclass
class Scenario:
    phase_rows: list[dict[str, Any]] = field(default_factory=list)
    schedule_rows: list[dict[str, Any]] = field(default_factory=list)
    prediction_rows: list[dict[str, Any]] = field(default_factory=list)
    policies: dict[str, Any] = field(
        default_factory=lambda: {name: invoker_policy(PUSH_MEMBER) for name in SERVICES}
    )
    raw_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Rows of phase 2's raw tables (sources.tables.RAW_TABLES), by table; a table absent here is not
    created on bqemulator (DuckDB creates every table)."""
    project_policy: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=lambda: healthy_push_chain(
        PIPELINE.project, PIPELINE.region, list(SERVICES), PUSH_MEMBER.split(":", 1)[-1])[0])
    subscriptions: list[dict[str, Any]] = field(default_factory=lambda: healthy_push_chain(
        PIPELINE.project, PIPELINE.region, list(SERVICES), PUSH_MEMBER.split(":", 1)[-1])[1])
    push_series: list[dict[str, Any]] = field(default_factory=list)
    """timeSeries of push_metrics.json (none: no traffic)."""
    scheduler_jobs: list[dict[str, Any]] = field(default_factory=lambda: scheduler_jobs(
        PIPELINE.project, PIPELINE.region, [w.job for w in watched_jobs(CONFIG.monitors["scheduler_jobs"], PIPELINE)], now=None))
    """scheduler_jobs.json: every job canary.toml watches, enabled, its last attempt a success (no attempt
    times: the scheduler cases set them)."""
    audit_entries: list[dict[str, Any]] = field(default_factory=list)
    """audit_log.json: Admin Activity entries (none: no change in the last 7 days)."""

    # --- phase_completions ---
    def completion(
        self, game_date: date, phase: str, processor: str, at: datetime, *, status: str = "success"
    ) -> Scenario:
        self.phase_rows.append(
            {
                "game_date": game_date,
                "phase": phase,
                "processor_name": processor,
                "status": status,
                "completed_at": at,
                "record_count": 100 if status == "success" else None,
                "execution_id": f"exec-{len(self.phase_rows)}",
            }
        )
        return self

    def phase_complete(self, game_date: date, phase: str, at: datetime, *, count: int | None = None, spacing_min: int = 2) -> Scenario:
        """`count` processors of `phase` (default: all the demo's) succeed, the last one at `at`."""
        names = PHASE_PROCESSORS[phase] if count is None else [f"{phase}_proc_{i}" for i in range(count)]
        for index, name in enumerate(names):
            self.completion(game_date, phase, name, at - timedelta(minutes=spacing_min * (len(names) - 1 - index)))
        return self

    # --- schedule and predictions ---
    def game(self, game_date: date, game_id: str, *, start: datetime | None, status: str = "scheduled") -> Scenario:
        self.schedule_rows.append(
            {"game_id": game_id, "game_date": game_date, "game_start_utc": start, "game_status": status}
        )
        return self

    def predictions(
        self,
        game_date: date,
        game_id: str,
        *,
        players: int = 3,
        system_id: str = "catboost_v9",
        created_at: datetime,
        is_active: bool | None = None,
    ) -> Scenario:
        for player in range(players):
            self.prediction_rows.append(
                {
                    "game_date": game_date,
                    "game_id": game_id,
                    "player_lookup": f"{game_id}-p{player}",
                    "system_id": system_id,
                    "created_at": created_at,
                    "is_active": is_active,
                }
            )
        return self

    # --- phase 2's raw tables ---
    def raw(self, table: str, *rows: dict[str, Any]) -> Scenario:
        self.raw_rows.setdefault(table, []).extend(rows)
        return self

    # --- IAM ---
    def policy(self, service: str, policy: dict[str, Any] | None) -> Scenario:
        """Set a service's policy; None removes the service (not found)."""
        if policy is None:
            self.policies.pop(service, None)
            self.services.pop(service, None)
        else:
            self.policies[service] = policy
        return self

    @property
    def rows_by_table(self) -> dict[str, list[dict[str, Any]]]:
        return {
            PHASE_COMPLETIONS: self.phase_rows, SCHEDULE: self.schedule_rows, PREDICTIONS: self.prediction_rows,
            **self.raw_rows,
        }

    def write_scheduler_and_audit(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scheduler_jobs.json").write_text(json.dumps(self.scheduler_jobs), encoding="utf-8")
        (folder / "audit_log.json").write_text(json.dumps(self.audit_entries), encoding="utf-8")

    def write_local(self, local_dir: Path, *, dataset_prefix: str = "") -> Path:
        local_dir.mkdir(parents=True, exist_ok=True)
        write_duckdb(local_dir / "warehouse.duckdb", self.rows_by_table, dataset_prefix=dataset_prefix)
        (local_dir / "iam_policies.json").write_text(json.dumps(self.policies), encoding="utf-8")
        for name, data in (
            ("project_iam_policy.json", self.project_policy), ("services.json", self.services),
            ("subscriptions.json", self.subscriptions), ("push_metrics.json", {"timeSeries": self.push_series}),
            ("scheduler_jobs.json", self.scheduler_jobs), ("audit_log.json", self.audit_entries),
        ):
            (local_dir / name).write_text(json.dumps(data), encoding="utf-8")
        return local_dir
