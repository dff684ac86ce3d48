"""The digest step: once a day, the first full scheduled run at or after the configured league-local time
posts the daily digest, claimed like an alert so two runs at once cannot both post it.

Only a full run posts it (every enabled monitor, today's date): it speaks for every monitor. A dry run
shows it and posts nothing. Reads: the open incidents (the state store), tonight's slate (the schedule)
and yesterday's phase completions, each one bounded query through the Warehouse port.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from alerts.deliver import ANOTHER_RUN
from alerts.digest import DIGEST_MONITOR, Digest, DigestNotifier, Latency, MonitorOutcome, OpenIncident, Slate, render_digest_text
from alerts.links import thread_url
from alerts.notifier import DeliveryError
from alerts.state import StateError
from core.config import CanaryConfig, Pipeline
from core.fingerprint import fingerprint_of
from core.model import AlertState, AlertStatus, MonitorResult, NotificationReport, Reason, Severity
from monitors import missing_predictions
from monitors.phase_stalls import ProcessorRun, completion_moment
from sources.errors import SourceError
from sources.tables import PHASE_COMPLETIONS, SCHEDULE
from sources.warehouse import Warehouse

RECORD_RETENTION = timedelta(days=7)
"""How long the record that says "today's digest was posted" is kept."""

SLATE_QUERY = f"""
SELECT game_id AS game_id, MIN(game_start_utc) AS game_start_utc
FROM {SCHEDULE}
WHERE game_date = @game_date
  AND COALESCE(game_status, 'scheduled') NOT IN ('postponed', 'cancelled')
GROUP BY game_id
"""

LATENCY_QUERY = f"""
SELECT
  phase AS phase,
  processor_name AS processor_name,
  MIN(completed_at) AS first_success_at,
  MAX(completed_at) AS last_success_at
FROM {PHASE_COMPLETIONS}
WHERE game_date = @game_date
  AND status = 'success'
  AND completed_at <= @now
GROUP BY phase, processor_name
"""


def digest_fingerprint(league_date: date) -> str:
    return fingerprint_of(DIGEST_MONITOR, {"league_date": league_date.isoformat()})


def is_due(config: CanaryConfig, *, now: datetime, full_run: bool) -> bool:
    """Due on a full run at or after the configured league-local time (whether it was posted is the store's)."""
    local = now.astimezone(config.zone)
    return config.digest.enabled and full_run and local.time() >= config.digest.at


def read_slate(warehouse: Warehouse, config: CanaryConfig, league_date: date, now: datetime) -> Slate:
    rows = warehouse.query(SLATE_QUERY, {"game_date": league_date})
    starts = sorted(r["game_start_utc"] for r in rows if r["game_start_utc"] is not None)
    due = None
    predictions = config.monitors.get(missing_predictions.NAME)
    if rows and isinstance(predictions, missing_predictions.Config) and predictions.enabled:
        due = missing_predictions.due_at(predictions, league_date, starts, config.zone)
    return Slate(games=len(rows), first_start=starts[0] if starts else None, predictions_due=due)


def phase_completions(pipeline: Pipeline, runs: dict[str, list[ProcessorRun]]) -> list[tuple[str, datetime | None]]:
    """When each phase completed: by its outgoing transition's rule, or (the last phase) its first success."""
    rules = {t.from_phase: t for t in pipeline.transitions}
    found: list[tuple[str, datetime | None]] = []
    for phase in pipeline.phases:
        phase_runs = runs.get(phase, [])
        if phase in rules:
            found.append((phase, completion_moment(rules[phase], phase_runs)))
        else:
            found.append((phase, min((r.first_success_at for r in phase_runs if r.first_success_at), default=None)))
    return found


def read_latency(warehouse: Warehouse, pipeline: Pipeline, game_date: date, now: datetime) -> Latency:
    rows = warehouse.query(LATENCY_QUERY, {"game_date": game_date, "now": now})
    runs: dict[str, list[ProcessorRun]] = {}
    for row in rows:
        runs.setdefault(row["phase"], []).append(
            ProcessorRun(row["processor_name"], row["first_success_at"], row["last_success_at"], 0)
        )
    return Latency(game_date=game_date, phases=phase_completions(pipeline, runs))


def gather(
    *, config: CanaryConfig, warehouse: Warehouse, firing: dict[str, AlertState] | None, results: list[MonitorResult],
    now: datetime, today: date, state_problem: str | None = None,
) -> Digest:
    """What the digest says; a source that cannot be read is named in it, never an aborted digest."""
    problems = [state_problem] if state_problem else []
    slate = latency = None
    try:
        slate = read_slate(warehouse, config, today, now)
    except (SourceError, KeyError, TypeError) as error:
        problems.append(f"tonight's slate ({SCHEDULE}): {error}")
    try:
        latency = read_latency(warehouse, config.pipeline, today - timedelta(days=1), now)
    except (SourceError, KeyError, TypeError) as error:
        problems.append(f"yesterday's latency ({PHASE_COMPLETIONS}): {error}")
    incidents = [
        OpenIncident(
            severity=s.severity, monitor=s.monitor, summary=s.summary, since=s.first_seen,
            thread_url=thread_url(config.links, s.channel, s.thread_ts),
        )
        for s in (firing or {}).values()
        if s.monitor != DIGEST_MONITOR
    ]
    rank = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    incidents.sort(key=lambda i: (rank[i.severity], i.since))
    return Digest(
        fingerprint=digest_fingerprint(today), league_date=today, now=now, zone=config.zone, incidents=incidents,
        monitors=[MonitorOutcome(r.name, r.outcome, r.error or r.note) for r in results],
        slate=slate, latency=latency, problems=problems,
    )


def digest_record(digest: Digest, *, channel: str | None, ts: str | None, now: datetime) -> AlertState:
    """The record that says today's digest was posted: closed at once (it is never an open incident)."""
    return AlertState(
        fingerprint=digest.fingerprint, monitor=DIGEST_MONITOR, key={"league_date": digest.league_date.isoformat()},
        severity=Severity.INFO, summary=digest.title, status=AlertStatus.RESOLVED, first_seen=now, last_seen=now,
        last_notified=now, channel=channel, thread_ts=ts, resolved_at=now, expire_at=now + RECORD_RETENTION,
    )


def post_digest(
    *, config: CanaryConfig, store: Any, notifier: Any, warehouse: Warehouse, results: list[MonitorResult],
    owner: str, now: datetime, today: date, full_run: bool, dry_run: bool,
) -> tuple[NotificationReport | None, str | None]:
    """Post today's digest when it is due and not yet posted: (its report, its text), or (None, None)."""
    if not is_due(config, now=now, full_run=full_run):
        return None, None
    fingerprint = digest_fingerprint(today)

    def report(**fields: Any) -> NotificationReport:
        return NotificationReport(fingerprint=fingerprint, reason=Reason.DIGEST, **fields)

    try:
        if store.load(fingerprints=[fingerprint]):
            return None, None  # posted earlier today
        firing: dict[str, AlertState] | None = store.load_firing()
    except StateError as error:
        return report(delivered=False, error=f"state store: {error}"), None
    digest = gather(config=config, warehouse=warehouse, firing=firing, results=results, now=now, today=today)
    text = render_digest_text(digest)
    if dry_run:
        return report(delivered=False), text
    if not hasattr(notifier, "send_digest"):
        return report(delivered=False, skipped="this notifier cannot post a digest"), text
    try:
        if not store.claim(fingerprint=fingerprint, expected_version=0, owner=owner, now=now, lease=config.alerts.claim_lease):
            return report(delivered=False, skipped=ANOTHER_RUN), text
    except StateError as error:
        return report(delivered=False, error=f"state store: {error}"), text
    sender: DigestNotifier = notifier
    try:
        receipt = sender.send_digest(digest)
    except Exception as error:  # any notifier failure releases the claim: the next full run posts it
        try:
            store.release(fingerprint=fingerprint, owner=owner)
        except StateError:
            pass
        message = str(error) if isinstance(error, DeliveryError) else f"notifier failed unexpectedly: {type(error).__name__}: {error}"
        return report(delivered=False, error=message), text
    try:
        store.record(state=digest_record(digest, channel=receipt.channel, ts=receipt.ts, now=now), owner=owner)
    except StateError as error:
        return report(delivered=True, error=f"sent, but not recorded: {error}"), text
    return report(delivered=True), text
