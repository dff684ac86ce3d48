"""Replay: what the canary would have said, tick by tick, over a range of past game dates.

Each replayable monitor fetches its rows once for the whole range (one warehouse query); then, at each
tick as Cloud Scheduler would have fired it, its judge sees only what was written by then, and the real
notice pipeline (alerts/pipeline.py) runs on an in-memory notification record that starts empty and a
notifier that sends nothing, so the record changes exactly as a scheduled run's would. Nothing is sent
and nothing is written.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable

from pydantic import BaseModel, ConfigDict, Field

from alerts.message import AlertMessage
from alerts.notifier import Receipt, ThreadRef
from alerts.pipeline import Judgement, NoticeRun, notify
from core.config import CanaryConfig
from core.model import AlertState, MonitorResult, Reason, Severity, Silence
from monitors.base import CheckContext, FetchWindow, MonitorSpec, Sources
from monitors.registry import MONITORS
from run.runner import timed_result
from run.steps import RequestError, findings_of, presentation, select_monitors
from sources.warehouse import Row

REPLAY_CHANNEL = "replay"
MAX_TICKS = 200_000
"""About eleven years of 30-minute ticks: more is a typo, not a question."""


@dataclass(frozen=True)
class ReplayRequest:
    first: date
    """League-local game date of the first tick (its 00:00)."""
    last: date
    """League-local date whose last tick ends the replay."""
    every: timedelta
    monitors: tuple[str, ...] | None = None
    """Names to replay; None replays every enabled monitor that has history."""


class NotReplayed(BaseModel):
    monitor: str
    why: str


class ReplayNotice(BaseModel):
    at: datetime
    reason: Reason
    fingerprint: str
    monitor: str
    key: dict[str, str]
    summary: str
    severity: Severity = Field(exclude=True)


class ReplayIncident(BaseModel):
    """One incident: from its first notice to its resolved notice (None: still open at the end)."""

    fingerprint: str
    monitor: str
    key: dict[str, str]
    opened_at: datetime
    resolved_at: datetime | None = None
    notices: int = 0
    """How many notices it sent (first, repeats and the resolved one)."""
    severity: Severity = Field(exclude=True)
    summary: str = Field(exclude=True)


class ReplayReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    first: date = Field(serialization_alias="from")
    last: date = Field(serialization_alias="to")
    every: str
    ticks: int
    replayed: list[str]
    not_replayed: list[NotReplayed]
    notices: list[ReplayNotice]
    incidents: list[ReplayIncident]
    duration_ms: float
    end: datetime = Field(exclude=True)
    """The moment after the last tick: how long a still-open incident had lasted by then."""

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def tick_times(request: ReplayRequest, config: CanaryConfig) -> list[datetime]:
    """Every `every` from 00:00 league-local of the first date to the end of the last (UTC instants)."""
    if request.every <= timedelta(0):
        raise RequestError("--every: give a positive interval such as 30m")
    if request.last < request.first:
        raise RequestError(f"--to {request.last} is before --from {request.first}")
    start = datetime.combine(request.first, datetime.min.time(), tzinfo=config.zone).astimezone(timezone.utc)
    end = datetime.combine(request.last + timedelta(days=1), datetime.min.time(), tzinfo=config.zone).astimezone(timezone.utc)
    count = -(-(end - start) // request.every)
    if count > MAX_TICKS:
        raise RequestError(f"{count:,} ticks: at most {MAX_TICKS:,} (a shorter range or a longer --every)")
    return [start + index * request.every for index in range(count)]


def split_monitors(config: CanaryConfig, names: tuple[str, ...] | None) -> tuple[list[str], list[NotReplayed]]:
    """The selected monitors that can be replayed, and those that cannot with why; bad names are RequestError."""
    selected = select_monitors(config, names)
    replayed = [name for name in selected if MONITORS[name].replayable]
    skipped = [
        NotReplayed(monitor=name, why=MONITORS[name].no_history or f"has no fetch/judge split (reads {MONITORS[name].reads})")
        for name in selected
        if not MONITORS[name].replayable
    ]
    if names is not None and not replayed:
        raise RequestError("nothing to replay: " + "; ".join(f"{s.monitor} {s.why}" for s in skipped))
    return replayed, skipped


class ReplayStore:
    """The StateStore contract in memory for one replay: no other run competes, nothing is written."""

    source = "replay"

    def __init__(self) -> None:
        self.records: dict[str, AlertState] = {}

    def load(self, *, fingerprints: Iterable[str]) -> dict[str, AlertState]:
        return {fp: self.records[fp] for fp in fingerprints if fp in self.records}

    def load_firing(self) -> dict[str, AlertState]:
        return {fp: state for fp, state in self.records.items() if state.firing}

    def claim(self, *, fingerprint: str, expected_version: int, owner: str, now: datetime, lease: timedelta) -> bool:
        current = self.records.get(fingerprint)
        return (current.version if current else 0) == expected_version

    def record(self, *, state: AlertState, owner: str) -> None:
        current = self.records.get(state.fingerprint)
        self.records[state.fingerprint] = state.model_copy(update={"version": (current.version if current else 0) + 1})

    def release(self, *, fingerprint: str, owner: str) -> None:
        return None

    def silences(self, *, now: datetime, include_expired: bool = False) -> list[Silence]:
        return []


class ReplayNotifier:
    """Sends nothing; hands out increasing message ids so that threads form as they would in Slack."""

    def __init__(self) -> None:
        self.count = 0

    def send(self, message: AlertMessage, *, thread: ThreadRef | None) -> Receipt:
        self.count += 1
        return Receipt(channel=REPLAY_CHANNEL, ts=str(self.count))

    def mark_resolved(self, message: AlertMessage, *, thread: ThreadRef) -> None:
        return None


class RowsByDate:
    """One monitor's fetched rows, sliced by game date so that each tick judges only its window's rows."""

    def __init__(self, rows: list[Row]) -> None:
        self._by_date: dict[date, list[Row]] = {}
        self._spans: dict[tuple[date, date], list[Row]] = {}
        self._undated: list[Row] = []
        """Rows of no game date (a check's own error, e.g. its table does not exist): in every window."""
        for row in rows:
            if row.get("game_date") is None:
                self._undated.append(row)
            else:
                self._by_date.setdefault(row["game_date"], []).append(row)

    def of(self, first: date, last: date) -> list[Row]:
        """The rows of game dates first..last (the same list for every tick of one window)."""
        if (first, last) not in self._spans:
            days = range((last - first).days + 1)
            dated = [row for offset in days for row in self._by_date.get(first + timedelta(days=offset), ())]
            self._spans[(first, last)] = self._undated + dated
        return self._spans[(first, last)]


def replay(config: CanaryConfig, sources: Sources, request: ReplayRequest) -> ReplayReport:
    """The notices the scheduled runs would have sent at each tick, from an empty notification record."""
    started = time.perf_counter()
    names, skipped = split_monitors(config, request.monitors)
    ticks = tick_times(request, config)
    contexts = [
        CheckContext(now=tick, today=tick.astimezone(config.zone).date(), zone=config.zone, pipeline=config.pipeline)
        for tick in ticks
    ]
    specs: list[MonitorSpec[Any]] = [MONITORS[name] for name in names]
    rows = {spec.name: RowsByDate(_fetch_range(spec, config, sources, contexts)) for spec in specs}
    store, notifier = ReplayStore(), ReplayNotifier()
    notices: list[ReplayNotice] = []
    shown = presentation(config)
    for ctx in contexts:
        results = [_judge_at(spec, config, sources, rows[spec.name], ctx) for spec in specs]
        # The notice pipeline of a scheduled run, on a record in memory and a notifier that sends nothing:
        # threads, causes and the record's transitions change exactly as a scheduled run's would.
        run = NoticeRun(
            store=store, notifier=notifier, owner="replay", now=ctx.now, alerts=config.alerts, pipeline=config.pipeline,
            channel_for=lambda severity: REPLAY_CHANNEL, presentation=shown,
        )
        noticed = notify(run, findings=findings_of(results), judgement=Judgement.of(results))
        for item in noticed.plans:
            decision, message = item.decision, item.message
            notices.append(ReplayNotice(
                at=ctx.now, reason=decision.reason, fingerprint=decision.fingerprint, monitor=message.monitor,
                key=dict(decision.finding.key if decision.finding else decision.previous.key),  # type: ignore[union-attr]
                summary=message.title, severity=message.severity,
            ))
    end = ticks[-1] + request.every if ticks else datetime.combine(request.first, datetime.min.time(), tzinfo=timezone.utc)
    return ReplayReport(
        first=request.first, last=request.last, every=_duration_text(request.every), ticks=len(ticks), replayed=names,
        not_replayed=skipped, notices=notices, incidents=incidents_of(notices),
        duration_ms=round((time.perf_counter() - started) * 1000, 1), end=end,
    )


def _fetch_range(spec: MonitorSpec[Any], config: CanaryConfig, sources: Sources, contexts: list[CheckContext]) -> list[Row]:
    """One query covering every tick's window."""
    assert spec.window is not None and spec.fetch is not None
    monitor_config = config.monitors[spec.name]
    windows = [spec.window(monitor_config, ctx) for ctx in contexts]
    if not windows:
        return []
    return spec.fetch(monitor_config, sources, functools.reduce(FetchWindow.covering, windows))


def _judge_at(
    spec: MonitorSpec[Any], config: CanaryConfig, sources: Sources, rows: RowsByDate, ctx: CheckContext
) -> MonitorResult:
    """One monitor's result at one tick, from its window's rows; a judge's exception is its ERROR, as in a run."""
    assert spec.window is not None and spec.judge is not None
    monitor_config = config.monitors[spec.name]
    span = spec.window(monitor_config, ctx)
    return timed_result(spec, sources, lambda: spec.judge(monitor_config, rows.of(span.first_date, span.last_date), ctx))


def incidents_of(notices: list[ReplayNotice]) -> list[ReplayIncident]:
    """Notices grouped into incidents: a first notice opens one, a resolved notice closes it."""
    open_now: dict[str, ReplayIncident] = {}
    incidents: list[ReplayIncident] = []
    for notice in notices:
        incident = open_now.get(notice.fingerprint)
        if incident is None or notice.reason is Reason.FIRST:
            incident = ReplayIncident(
                fingerprint=notice.fingerprint, monitor=notice.monitor, key=notice.key, opened_at=notice.at,
                severity=notice.severity, summary=notice.summary,
            )
            open_now[notice.fingerprint] = incident
            incidents.append(incident)
        incident.notices += 1
        if notice.reason is Reason.RESOLVED:
            incident.resolved_at = notice.at
            del open_now[notice.fingerprint]
    return incidents


def _duration_text(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
