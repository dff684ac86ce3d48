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
from typing import Any, Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field

from alerts.message import AlertMessage
from alerts.notifier import Receipt, ThreadRef
from alerts.pipeline import Judgement, NoticeRun, notify
from core.config import CanaryConfig
from core.model import Acknowledgement, AlertState, MonitorResult, Reason, Severity, Silence
from monitors.base import CheckContext, FetchWindow, MonitorSpec, Sources
from monitors.data_checks import SCHEDULE_CHECK
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
    now: datetime | None = None
    """The entry point's clock: a range past today is refused, and today's ticks after now are not replayed."""


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
    escalated: bool = False
    """A repeat sent because the incident became more severe (warning -> critical)."""


class ReplayIncident(BaseModel):
    """One incident: from its first notice to its resolved notice (None: still open at the end)."""

    fingerprint: str
    monitor: str
    key: dict[str, str]
    opened_at: datetime
    resolved_at: datetime | None = None
    notices: int = 0
    """How many notices it sent (first, repeats and the resolved one)."""
    escalations: int = 0
    """How many of its repeats were escalations (warning -> critical)."""
    severity: Severity = Field(exclude=True)
    summary: str = Field(exclude=True)


class MonitorSummary(BaseModel):
    """One replayed monitor's share of the replay, and how many days of the range it had data for."""

    monitor: str
    incidents: int
    notices: int
    escalations: int
    days_with_rows: int
    """Days of the range whose game date had rows for it (completions, games, loads): an average over the
    range is diluted by the days without."""


class ReplayPage(BaseModel):
    """A PagerDuty trigger the configured [escalation] would have sent (nobody acknowledging)."""

    at: datetime
    fingerprint: str
    monitor: str
    why: str


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
    monitors: list[MonitorSummary] = Field(default_factory=list)
    days: int = 0
    """Days of the range (--from through --to)."""
    days_with_games: int | None = None
    """Days of the range with games (not postponed or cancelled), when a replayed monitor reads the schedule."""
    future_ticks: int = 0
    """Ticks of today after `now`, not replayed: what has not happened yet has no history."""
    pages: int | None = None
    """PagerDuty triggers the range would have produced under [escalation], assuming nobody acknowledged
    (None: no [escalation] table, nothing escalates)."""
    paged: list[ReplayPage] = Field(default_factory=list)
    duration_ms: float
    end: datetime = Field(exclude=True)
    """The moment after the last tick: how long a still-open incident had lasted by then."""

    def as_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", by_alias=True)
        if self.pages is None:  # no [escalation]: the report keeps its shape
            data.pop("pages", None)
            data.pop("paged", None)
        return data


def tick_times(request: ReplayRequest, config: CanaryConfig) -> list[datetime]:
    """Every `every` from 00:00 league-local of the first date to the end of the last (UTC instants)."""
    if request.every <= timedelta(0):
        raise RequestError("--every: give a positive interval such as 30m")
    if request.last < request.first:
        raise RequestError(f"--to {request.last} is before --from {request.first}")
    if request.now is not None:
        today = request.now.astimezone(config.zone).date()
        if request.last > today:
            raise RequestError(
                f"--to {request.last} is in the future (today is {today}, league-local): a replay shows what has "
                f"happened; give --to {today} or earlier"
            )
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
    off = [name for name in replayed if not config.monitors[name].enabled]
    if names is not None and off:
        raise RequestError(
            f"{', '.join(off)} {'is' if len(off) == 1 else 'are'} off in this configuration (nothing listed to check): "
            f"turn {'it' if len(off) == 1 else 'them'} on in canary.toml (the raw-table checks are commented out "
            f"there), or replay another file with --config"
        )
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

    def mark_no_data(self, *, fingerprint: str, expected_version: int, since: datetime | None) -> bool:
        current = self.records.get(fingerprint)
        if current is None or not current.firing or current.version != expected_version or current.no_data_since == since:
            return False
        self.records[fingerprint] = current.model_copy(update={"no_data_since": since})
        return True

    def silences(self, *, now: datetime, include_expired: bool = False) -> list[Silence]:
        return []

    def acknowledgements(self, *, fingerprints: Iterable[str]) -> dict[str, Acknowledgement]:
        return {}  # a replay says what the canary would have said with nobody acting on it


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

    def dates_with_rows(self, first: date, last: date) -> set[date]:
        """Game dates first..last with a row of data (not an error, not the schedule's game count)."""
        return {
            day for day, rows in self._by_date.items()
            if first <= day <= last and any("error" not in r and r.get("check_name") != SCHEDULE_CHECK for r in rows)
        }

    def game_dates(self, first: date, last: date) -> set[date] | None:
        """Dates first..last with games, when these rows carry the schedule (None: they do not)."""
        carries = False
        found: set[date] = set()
        for day, rows in self._by_date.items():
            for row in rows:
                if row.get("check_name") == SCHEDULE_CHECK:
                    carries = True
                    if int(row.get("row_count") or 0) > 0 and first <= day <= last:
                        found.add(day)
                elif "check_name" not in row and "game_id" in row and "game_start_utc" in row:
                    carries = True  # missing_predictions reads the schedule's games, one row each
                    if first <= day <= last:
                        found.add(day)
        return found if carries else None

    def of(self, first: date, last: date) -> list[Row]:
        """The rows of game dates first..last (the same list for every tick of one window)."""
        if (first, last) not in self._spans:
            days = range((last - first).days + 1)
            dated = [row for offset in days for row in self._by_date.get(first + timedelta(days=offset), ())]
            self._spans[(first, last)] = self._undated + dated
        return self._spans[(first, last)]


Progress = Callable[[int, int, date], None]
"""progress(ticks done, ticks in all, league date of the tick): called once per league day of a replay."""


def replay(
    config: CanaryConfig, sources: Sources, request: ReplayRequest, *, progress: Progress | None = None,
) -> ReplayReport:
    """The notices the scheduled runs would have sent at each tick, from an empty notification record."""
    started = time.perf_counter()
    names, skipped = split_monitors(config, request.monitors)
    every_tick = tick_times(request, config)
    ticks = [tick for tick in every_tick if request.now is None or tick <= request.now]
    contexts = [
        CheckContext(now=tick, today=tick.astimezone(config.zone).date(), zone=config.zone, pipeline=config.pipeline,
                     dataset_prefix=config.dataset_prefix)
        for tick in ticks
    ]
    specs: list[MonitorSpec[Any]] = [MONITORS[name] for name in names]
    rows = {spec.name: RowsByDate(_fetch_range(spec, config, sources, contexts)) for spec in specs}
    store, notifier = ReplayStore(), ReplayNotifier()
    notices: list[ReplayNotice] = []
    paged: list[ReplayPage] = []
    shown = presentation(config)
    for done, ctx in enumerate(contexts):
        if progress is not None and (done == 0 or ctx.today != contexts[done - 1].today):
            progress(done, len(contexts), ctx.today)
        results = [_judge_at(spec, config, sources, rows[spec.name], ctx) for spec in specs]
        # The notice pipeline of a scheduled run, on a record in memory and a notifier that sends nothing:
        # threads, causes and the record's transitions change exactly as a scheduled run's would.
        run = NoticeRun(
            store=store, notifier=notifier, owner="replay", now=ctx.now, alerts=config.alerts, pipeline=config.pipeline,
            channel_for=lambda severity: REPLAY_CHANNEL, presentation=shown,
            # [escalation] as configured, nobody acknowledging, no PagerDuty: each trigger is recorded and counted.
            escalation=config.escalation,
        )
        noticed = notify(run, findings=findings_of(results), judgement=Judgement.of(results))
        paged += [
            ReplayPage(at=ctx.now, fingerprint=e.fingerprint, monitor=e.monitor or "", why=e.why or "")
            for e in noticed.escalations if e.event == "trigger" and e.delivered
        ]
        for item in noticed.plans:
            decision, message = item.decision, item.message
            notices.append(ReplayNotice(
                at=ctx.now, reason=decision.reason, fingerprint=decision.fingerprint, monitor=message.monitor,
                key=dict(decision.finding.key if decision.finding else decision.previous.key),  # type: ignore[union-attr]
                summary=message.title, severity=message.severity,
            ))
    end = ticks[-1] + request.every if ticks else datetime.combine(request.first, datetime.min.time(), tzinfo=timezone.utc)
    incidents = incidents_of(notices)
    return ReplayReport(
        first=request.first, last=request.last, every=_duration_text(request.every), ticks=len(ticks), replayed=names,
        not_replayed=skipped, notices=notices, incidents=incidents,
        monitors=[summary_of(name, rows[name], notices, incidents, request) for name in names],
        days=(request.last - request.first).days + 1,
        days_with_games=_days_with_games([rows[name] for name in names], request),
        future_ticks=len(every_tick) - len(ticks),
        pages=len(paged) if config.escalation is not None else None, paged=paged,
        duration_ms=round((time.perf_counter() - started) * 1000, 1), end=end,
    )


def summary_of(
    name: str, rows: RowsByDate, notices: list[ReplayNotice], incidents: list[ReplayIncident], request: ReplayRequest,
) -> MonitorSummary:
    mine = [i for i in incidents if i.monitor == name]
    return MonitorSummary(
        monitor=name, incidents=len(mine), notices=sum(1 for n in notices if n.monitor == name),
        escalations=sum(i.escalations for i in mine), days_with_rows=len(rows.dates_with_rows(request.first, request.last)),
    )


def _days_with_games(all_rows: list[RowsByDate], request: ReplayRequest) -> int | None:
    """Days with games, from the schedule rows a monitor read (the data checks' schedule branch, or the games
    missing_predictions reads); None when no replayed monitor reads the schedule."""
    seen = [rows.game_dates(request.first, request.last) for rows in all_rows]
    known = [dates for dates in seen if dates is not None]
    return len(set().union(*known)) if known else None


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
        if notice.reason is Reason.REPEAT and _rank(notice.severity) > _rank(incident.severity):
            notice.escalated = True
            incident.escalations += 1
            incident.severity = notice.severity
        if notice.reason is Reason.RESOLVED:
            incident.resolved_at = notice.at
            del open_now[notice.fingerprint]
    return incidents


def notices_by_day(report: ReplayReport, zone: Any) -> dict[date, int]:
    """Notices per league-local day of the range (every day present, 0 when none)."""
    counts = {report.first + timedelta(days=n): 0 for n in range((report.last - report.first).days + 1)}
    for notice in report.notices:
        day = notice.at.astimezone(zone).date()
        counts[day] = counts.get(day, 0) + 1
    return counts


def _rank(severity: Severity) -> int:
    return {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}.get(severity, 0)


def _duration_text(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
