"""The digest's content: once a day, the first full scheduled run at or after the configured league-local
time hands the notice pipeline (alerts/pipeline.py) a DigestJob; the pipeline posts it through the same
claim -> send -> record as an alert, so two runs at once cannot both post it.

Only a full run posts it (every enabled monitor, today's date): it speaks for every monitor. A dry run
shows it and posts nothing. Reads: the open incidents (the state store), tonight's slate (the schedule)
and yesterday's phase completions, each one bounded query through the Warehouse port.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from alerts import pipeline
from alerts.digest import DIGEST_MONITOR, Digest, Latency, MonitorOutcome, OpenIncident, Slate
from alerts.notifier import Notifier
from alerts.pipeline import DigestJob, NoticeRun
from alerts.state import StateStore
from core.config import CanaryConfig, Pipeline
from core.fingerprint import fingerprint_of
from core.model import MonitorResult, NotificationReport
from monitors import missing_predictions
from monitors.phase_stalls import ProcessorRun, completion_moment
from sources.errors import SourceError
from sources.tables import PHASE_COMPLETIONS, SCHEDULE
from sources.warehouse import Warehouse

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


class TonightsSlate:
    """Tonight's slate, read at most once per run: the digest and the alerts' first lines (alerts/impact.py) share it."""

    def __init__(self, *, warehouse: Warehouse, config: CanaryConfig, today: date, now: datetime) -> None:
        self._read = lambda: read_slate(warehouse, config, today, now)
        self._done = False
        self._slate: Slate | None = None
        self._error: Exception | None = None

    def read(self) -> Slate:
        """The slate, or the read's error raised again (never a second query)."""
        if not self._done:
            self._done = True
            try:
                self._slate = self._read()
            except (SourceError, KeyError, TypeError) as error:
                self._error = error
        if self._error is not None:
            raise self._error
        assert self._slate is not None
        return self._slate

    def get(self) -> Slate | None:
        """The slate, or None when it cannot be read (an alert's first line then says nothing of it)."""
        try:
            return self.read()
        except (SourceError, KeyError, TypeError):
            return None


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
    *, config: CanaryConfig, warehouse: Warehouse, incidents: list[OpenIncident], results: list[MonitorResult],
    now: datetime, today: date, tonight: TonightsSlate | None = None,
) -> Digest:
    """What the digest says; a source that cannot be read is named in it, never an aborted digest.
    `tonight`: the run's one read of the slate (read here if not given)."""
    problems: list[str] = []
    slate = latency = None
    tonight = tonight or TonightsSlate(warehouse=warehouse, config=config, today=today, now=now)
    try:
        slate = tonight.read()
    except (SourceError, KeyError, TypeError) as error:
        problems.append(f"tonight's slate ({SCHEDULE}): {error}")
    try:
        latency = read_latency(warehouse, config.pipeline, today - timedelta(days=1), now)
    except (SourceError, KeyError, TypeError) as error:
        problems.append(f"yesterday's latency ({PHASE_COMPLETIONS}): {error}")
    return Digest(
        fingerprint=digest_fingerprint(today), league_date=today, now=now, zone=config.zone, incidents=incidents,
        monitors=[MonitorOutcome(r.name, r.outcome, r.error or r.note) for r in results],
        slate=slate, latency=latency, problems=problems,
    )


def digest_job(
    *, config: CanaryConfig, warehouse: Warehouse, results: list[MonitorResult], now: datetime, today: date,
    full_run: bool, tonight: TonightsSlate | None = None,
) -> DigestJob | None:
    """Today's digest for the notice pipeline to post (claim -> send -> record), when it is due."""
    if not is_due(config, now=now, full_run=full_run):
        return None
    return DigestJob(
        fingerprint=digest_fingerprint(today), links=config.links,
        compose=lambda incidents: gather(
            config=config, warehouse=warehouse, incidents=incidents, results=results, now=now, today=today,
            tonight=tonight,
        ),
    )


def post_digest(
    *, config: CanaryConfig, store: StateStore, notifier: Notifier, warehouse: Warehouse, results: list[MonitorResult],
    owner: str, now: datetime, today: date, full_run: bool, dry_run: bool,
) -> tuple[NotificationReport | None, str | None]:
    """Post today's digest on its own (a run posts it through alerts.pipeline.notify): (its report, its text)."""
    job = digest_job(config=config, warehouse=warehouse, results=results, now=now, today=today, full_run=full_run)
    if job is None:
        return None, None
    run = NoticeRun(
        store=store, notifier=notifier, owner=owner, now=now, alerts=config.alerts, pipeline=config.pipeline,
        channel_for=config.slack.channel_for, dry_run=dry_run,
    )
    return pipeline.post_digest(run, job)
