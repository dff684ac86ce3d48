"""A generated demo pipeline: realistic healthy days, then a today that the seeds' incident broke.

The story the demo tells: last night's Cloud Build redeploy (the seeds' outage, 00:58 UTC) dropped
roles/run.invoker from two services of the push chain: phase4-to-phase5-orchestrator, and the second hop
of 3->4, nba-phase4-precompute-processors (phase3-to-phase4-orchestrator publishes to nba-phase4-trigger,
whose push subscription starts it). So today phase 3 completed, its orchestrator published, and
nba-phase4-trigger's pushes are rejected with 403: phase 4 never started, and tonight's games have no
predictions. The backup job that masked such outages (`same-day-phase4`, 11:00 ET assumed) could not mask
this one: it calls the same service and its attempt failed with PERMISSION_DENIED (code 7). The phase-5
orchestrator's binding is gone too: nothing reached it today (phase 4 never completed), but it would
stop phase 5 next. The Admin Activity audit log holds both redeploys (ReplaceService), so each IAM alert
names when and by whom. The canary should raise those alerts (the second hop's explains the phase 4
stall and the missing predictions), and stay quiet about the traps that fooled the old monitors: phase 3
running several times a day, a failed processor row that was retried, the removed phase2-to-phase3
orchestrator, and a postponed game.

Two more things are wrong, and the canary should say both: the backup job `same-day-phase3` (the seeds'
10:30 ET Cloud Scheduler job) was paused; and yesterday's phase 3 is partial (the seeds' write-ups show
days with 3 of 5 phase-3 processors): PlayerGameSummaryProcessor and TeamDefenseGameSummaryProcessor never
succeeded for it. Its orchestrator started phase 4 anyway (session 207: `_triggered=True` at 3/5), so
yesterday's predictions went out, and nothing is visible until phase 3's complete_by (36h: noon today),
when the canary says it is incomplete. Every other scheduler job ran on time and succeeded.

Phase 2's raw tables (session 204) are loaded on time every day, so the freshness and volume checks
the demo turns on (DEMO_MONITORS) see a healthy raw layer: the outage is downstream of it. The history
has days without games (about one in eleven, as the league's calendar has) and, on request, opens with
an off-season stretch: on those days only the schedule is loaded, and nothing owes anything.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from core.local_files import refuse_link, write_text
from sources.push import OLDEST_UNACKED_AGE, PUSH_REQUESTS
from sources.tables import (
    GAMEBOOK, INJURY_REPORT, PHASE_COMPLETIONS, PLAYER_PROPS, PREDICTIONS, RAW_SCHEDULE, RAW_TABLES, SCHEDULE,
    SCOREBOARD, TEAM_BOXSCORE, write_duckdb,
)

PHASE_PROCESSORS = {
    "phase_2_raw": [
        "NbacGamebookProcessor", "NbacScoreboardV2Processor", "NbacTeamBoxscoreProcessor",
        "NbacScheduleProcessor", "NbacInjuryReportProcessor", "OddsApiPlayerPointsPropsProcessor",
    ],
    "phase_3_analytics": [
        "PlayerGameSummaryProcessor", "TeamOffenseGameSummaryProcessor", "TeamDefenseGameSummaryProcessor",
        "UpcomingPlayerGameContextProcessor", "UpcomingTeamGameContextProcessor",
    ],
    "phase_4_precompute": [
        "PlayerDailyCacheProcessor", "PlayerCompositeFactorsProcessor", "PlayerShotZoneAnalysisProcessor",
        "TeamDefenseZoneAnalysisProcessor", "MlFeatureStoreProcessor",
    ],
    "phase_5_predictions": ["PredictionCoordinator"],
    "phase_6_publishing": ["PhaseSixExporter"],
}
# League-local start of each phase's work on a game date. Each phase starts within its transition's
# max_delay of the previous one completing, so a healthy day is healthy at every 30-minute tick (a
# replay of the history shows only the broken day), not only at the demo's 18:30.
PHASE_START_LOCAL = {
    "phase_2_raw": time(6, 0),
    "phase_3_analytics": time(6, 40),
    "phase_4_precompute": time(7, 40),
    "phase_5_predictions": time(8, 40),
    "phase_6_publishing": time(9, 10),
}
SYSTEMS = ("catboost_v9", "ensemble_v1")
BROKEN_SERVICE = "phase4-to-phase5-orchestrator"
"""The service whose invoker binding today's redeploy dropped (the seeds' outage)."""
SECOND_HOP = "nba-phase4-precompute-processors"
"""The second hop of 3->4 (nba-phase4-trigger pushes to it), whose binding the same redeploy dropped."""
BROKEN_SERVICES = (BROKEN_SERVICE, SECOND_HOP)
PARTIAL_PHASE = "phase_3_analytics"
PARTIAL_MISSING = ("PlayerGameSummaryProcessor", "TeamDefenseGameSummaryProcessor")
"""The processors that never succeeded for yesterday's game date: its phase 3 is partial (3 of 5)."""
DEMO_LOCAL_TIME = time(18, 30)
NO_GAMES_EVERY = 11
"""A history day `back` days before today has no games when back % NO_GAMES_EVERY == NO_GAMES_AT (today always has)."""
NO_GAMES_AT = 4
SCHEDULE_AHEAD_DAYS = 7
"""The daily schedule load writes the games of its day and this many days after it."""

# Box scores of a game date load the morning after it (06:00-06:10 league time); the day after owes them
# from 09:00, and a missing one is stale (warning) 1 h later, critical 3 h later. docs/replay.md says how
# these values were chosen: a replay of the demo's season, healthy days quiet with a margin of hours.
_BOX_SCORES = {"table": None, "loaded_at_field": "processed_at", "game_date": "yesterday", "lookback_days": 1,
               "due_local": "09:00", "warn_after": "1h", "error_after": "3h", "only_on_game_days": True}
DEMO_MONITORS: dict[str, dict[str, Any]] = {
    # The checks canary.toml ships commented out, turned on for the demo (same values).
    "freshness": {
        "tables": [
            *({**_BOX_SCORES, "table": table} for table in (GAMEBOOK, SCOREBOARD, TEAM_BOXSCORE)),
            # Loaded every morning with the coming week's games: stale only when its own loads stop.
            {"table": RAW_SCHEDULE, "loaded_at_field": "processed_at", "lookback_days": 0, "lookahead_days": 7,
             "due_local": "09:00", "warn_after": "1h", "error_after": "6h"},
            # The day's reports and lines, during the day.
            {"table": INJURY_REPORT, "loaded_at_field": "processed_at", "lookback_days": 0, "due_local": "09:00",
             "warn_after": "1h", "error_after": "3h", "only_on_game_days": True},
            {"table": PLAYER_PROPS, "loaded_at_field": "processed_at", "lookback_days": 0, "due_local": "12:00",
             "warn_after": "1h", "error_after": "3h", "only_on_game_days": True},
        ]
    },
    "volume": {
        "checks": [
            # yesterday's gamebook has every team's players, each with a name.
            {"name": "gamebook_players", "table": GAMEBOOK, "game_date": "yesterday", "min_rows_per_game": 20,
             "max_null_percent": {"player_lookup": 0, "player_status": 0}, "loaded_at_field": "processed_at",
             "due_local": "09:00"},
            {"name": "team_boxscores", "table": TEAM_BOXSCORE, "game_date": "yesterday", "min_rows_per_game": 2,
             "loaded_at_field": "processed_at", "due_local": "09:00"},
            {"name": "points_props", "table": PLAYER_PROPS, "game_date": "today", "min_rows_per_game": 10,
             "max_null_percent": {"points_line": 0}, "loaded_at_field": "processed_at", "due_local": "12:00"},
        ]
    },
}


@dataclass
class DemoPipeline:
    now: datetime
    today: date
    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {t: [] for t in (PHASE_COMPLETIONS, SCHEDULE, PREDICTIONS, *RAW_TABLES)}
    )
    policies: dict[str, Any] = field(default_factory=dict)
    project_policy: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    push_metrics: dict[str, Any] = field(default_factory=lambda: {"timeSeries": []})
    scheduler_jobs: list[dict[str, Any]] = field(default_factory=list)
    """scheduler_jobs.json: `gcloud scheduler jobs list --format=json`."""
    audit_log: list[dict[str, Any]] = field(default_factory=list)
    """audit_log.json: `gcloud logging read --format=json` of the services' Admin Activity entries."""


DEMO_LOOKS_AHEAD = timedelta(hours=2)
"""The README's "two hours later" run (a critical notice's repeat): it must not be later than the real clock,
which `run --now` refuses, so the demo's evening is at least this long ago."""


def demo_now(real_now: datetime, zone: ZoneInfo) -> datetime:
    """The latest 18:30 league-local at least DEMO_LOOKS_AHEAD before `real_now`: evening of a game day, predictions due."""
    local = (real_now - DEMO_LOOKS_AHEAD).astimezone(zone)
    candidate = datetime.combine(local.date(), DEMO_LOCAL_TIME, tzinfo=zone)
    if candidate > local:
        candidate = datetime.combine(local.date() - timedelta(days=1), DEMO_LOCAL_TIME, tzinfo=zone)
    return candidate.astimezone(timezone.utc)


def _at(day: date, local: time, zone: ZoneInfo, minutes: float = 0) -> datetime:
    return (datetime.combine(day, local, tzinfo=zone) + timedelta(minutes=minutes)).astimezone(timezone.utc)


def invoker_policy(*members: str) -> dict[str, Any]:
    """A getIamPolicy response JSON with one run.invoker binding (no binding at all when no member)."""
    bindings = [{"role": "roles/run.invoker", "members": list(members)}] if members else []
    bindings.append({"role": "roles/run.developer", "members": ["group:nba-props-devs@example.com"]})
    return {"version": 1, "etag": "BwYdemo0000=", "bindings": bindings}


PROJECT_NUMBER = "756957797294"
PHASE3_SUBSCRIPTION = "nba-phase3-analytics-sub"
"""The seeds' real phase-3 trigger: a direct push subscription to nba-phase3-analytics-processors /process."""
PHASE4_SUBSCRIPTION = "nba-phase4-precompute-sub"
"""The second hop of 3->4: nba-phase4-trigger (session 204) pushes to nba-phase4-precompute-processors;
this subscription's name and its /process path are assumed (the seeds do not name them)."""


def service_json(project: str, region: str, name: str) -> dict[str, Any]:
    """A Cloud Run v2 Service as get_service answers it: its deterministic and legacy URLs."""
    legacy = f"https://{name}-{abs(hash_of(name)) % 10**10:010d}-wl.a.run.app"
    return {
        "name": f"projects/{project}/locations/{region}/services/{name}",
        "uri": legacy,
        "urls": [f"https://{name}-{PROJECT_NUMBER}.{region}.run.app", legacy],
        "invokerIamDisabled": False,
    }


def hash_of(text: str) -> int:
    """A stable number from a name (Python's hash() changes per process)."""
    return int.from_bytes(text.encode()[:8].ljust(8, b"_"), "big")


def push_subscription(project: str, region: str, service: str, push_account: str | None) -> dict[str, Any]:
    """The push subscription that starts `service`, as the Pub/Sub API answers it: the direct phase-3 one,
    or an Eventarc one (its endpoint carries Eventarc's query string)."""
    base = f"https://{service}-{PROJECT_NUMBER}.{region}.run.app"
    if service == "nba-phase3-analytics-processors":
        name, endpoint, topic = PHASE3_SUBSCRIPTION, f"{base}/process", "nba-phase2-raw-complete"
    elif service == "nba-phase4-precompute-processors":
        name, endpoint, topic = PHASE4_SUBSCRIPTION, f"{base}/process", "nba-phase4-trigger"
    else:
        topic = service.split("-to-")[0].replace("phase", "nba-phase") + "-complete"
        name = f"eventarc-{region}-{service}-{hash_of(service) % 1000:03d}-sub-{hash_of(topic) % 1000:03d}"
        endpoint = f"{base}/?__GCP_CloudEventsMode=CUSTOM_PUBSUB_projects%2F{project}%2Ftopics%2F{topic}"
    config: dict[str, Any] = {"pushEndpoint": endpoint}
    if push_account:
        config["oidcToken"] = {"serviceAccountEmail": push_account}
    return {
        "name": f"projects/{project}/subscriptions/{name}", "topic": f"projects/{project}/topics/{topic}",
        "pushConfig": config, "ackDeadlineSeconds": 600, "state": "ACTIVE",
    }


def push_series(project: str, subscription: str, metric: str, points: list[tuple[datetime, int]], **labels: str) -> dict[str, Any]:
    """One timeSeries of a timeSeries.list answer (REST JSON; int64Value is a string)."""
    delta = metric.endswith("push_request_count")
    return {
        "metric": {"type": metric, "labels": labels},
        "resource": {"type": "pubsub_subscription", "labels": {"project_id": project, "subscription_id": subscription}},
        "metricKind": "DELTA" if delta else "GAUGE",
        "valueType": "INT64",
        "points": [
            {"interval": {**({"startTime": _z(at - timedelta(minutes=1))} if delta else {}), "endTime": _z(at)},
             "value": {"int64Value": str(value)}}
            for at, value in points
        ],
    }


def _z(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def healthy_push_chain(project: str, region: str, services: list[str], push_account: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """services.json and subscriptions.json of a healthy pipeline: each service has its push subscription."""
    return (
        {name: service_json(project, region, name) for name in services},
        [push_subscription(project, region, name, push_account) for name in services],
    )


def build_demo(
    *, now: datetime, zone: ZoneInfo, services: list[str], push_member: str, project: str, region: str,
    history_days: int = 7, seed: int = 7, off_season_days: int = 0, jobs: list[str] | None = None,
) -> DemoPipeline:
    """`history_days` healthy days (the first `off_season_days` of them without games, and one in NO_GAMES_EVERY
    without games), then today broken (and yesterday's phase 3 partial); an IAM policy for each of `services`
    (from [pipeline]), their push subscriptions, and the last half hour of push metrics (pushes to a broken
    service with a message waiting fail with 403)."""
    if not 0 <= off_season_days <= history_days:
        raise ValueError(f"off_season_days: give 0 to history_days ({history_days}), got {off_season_days}")
    rng = random.Random(seed)
    today = now.astimezone(zone).date()
    pipeline = DemoPipeline(now=now, today=today)
    for back in range(history_days, 0, -1):
        if back > history_days - off_season_days or back % NO_GAMES_EVERY == NO_GAMES_AT:
            continue  # no games: the off-season, or a day off in the season
        _game_day(pipeline, today - timedelta(days=back), zone, rng, broken=False)
    _game_day(pipeline, today, zone, rng, broken=True)
    _partial_phase(pipeline, today - timedelta(days=1))
    for back in range(history_days, -1, -1):
        _schedule_load(pipeline, today - timedelta(days=back), zone)
    pipeline.policies = {
        name: invoker_policy() if name in BROKEN_SERVICES else invoker_policy(push_member) for name in services
    }
    pipeline.project_policy = {"version": 1, "etag": "BwYdemoproj=", "bindings": [
        {"role": "roles/owner", "members": ["user:pipeline-owner@example.com"]},
        {"role": "roles/run.viewer", "members": [push_member]},
    ]}
    push_account = push_member.split(":", 1)[-1]
    pipeline.services, pipeline.subscriptions = healthy_push_chain(project, region, services, push_account)
    pipeline.push_metrics = {"timeSeries": _push_metrics(pipeline, project, now, rng)}
    pipeline.scheduler_jobs = scheduler_jobs(project, region, jobs or [], now=now, paused={PAUSED_JOB}, denied={DENIED_JOB})
    pipeline.audit_log = audit_log(project, region, services, now=now)
    return pipeline


# --- Cloud Scheduler and the audit log --------------------------------------------------------------
PAUSED_JOB = "same-day-phase3"
"""The backup job a user paused: today's scheduler_jobs alert."""
DENIED_JOB = "same-day-phase4"
"""The backup job that starts phase 4: today's attempt calls the second hop, whose binding is gone, and is
refused. Cloud Scheduler records a target's 403 as status code 7 (PERMISSION_DENIED), with no message."""
PERMISSION_DENIED = 7
JOB_SCHEDULES = {
    "same-day-phase3": ("30 10 * * *", "America/New_York"),           # seeds (session 204): 10:30 AM ET daily
    "same-day-phase3-tomorrow": ("0 17 * * *", "America/New_York"),   # seeds (session 204): 5:00 PM ET daily
    "same-day-phase4": ("0 11 * * *", "America/New_York"),            # assumed: the seeds give no time
    "same-day-predictions": ("30 12 * * *", "America/New_York"),      # assumed: name and time
    "pipeline-canary": ("*/30 * * * *", "Etc/UTC"),                   # deploy.sh's --schedule and --time-zone
}
EVERY_30_MIN = ("*/30 * * * *", "Etc/UTC")
REDEPLOYER = f"{PROJECT_NUMBER}@cloudbuild.gserviceaccount.com"
"""Cloud Build's auto-deploy (cloudbuild-functions.yaml), which redeployed without the binding (seeds, session 207)."""


def _fire_times(schedule: str, zone: str, now: datetime) -> tuple[datetime, datetime]:
    """(the last fire at or before `now`, the next one after it) of the two cron forms the demo uses:
    "M H * * *" (daily) and "*/N * * * *" (every N minutes)."""
    minute, hour = schedule.split()[:2]
    if minute.startswith("*/"):
        step = timedelta(minutes=int(minute[2:]))
        last = datetime.fromtimestamp(now.timestamp() // step.total_seconds() * step.total_seconds(), timezone.utc)
        return last, last + step
    local = now.astimezone(ZoneInfo(zone))
    today = datetime.combine(local.date(), time(int(hour), int(minute)), tzinfo=ZoneInfo(zone))
    last = today if today <= local else datetime.combine(local.date() - timedelta(days=1), time(int(hour), int(minute)), tzinfo=ZoneInfo(zone))
    following = datetime.combine(last.date() + timedelta(days=1), time(int(hour), int(minute)), tzinfo=ZoneInfo(zone))
    return last.astimezone(timezone.utc), following.astimezone(timezone.utc)


def scheduler_job(
    project: str, region: str, name: str, *, now: datetime | None, paused: bool = False, denied: bool = False,
) -> dict[str, Any]:
    """A Cloud Scheduler v1 Job as REST JSON: last attempt at its last fire time, succeeded (`"status": {}`,
    proto3 JSON's form of code 0), next fire time ahead; a paused one last ran two days ago; a `denied` one's
    last attempt was refused by its target (code 7, PERMISSION_DENIED). With no `now`, a job without attempt
    times (state and status only: being late cannot be judged of it)."""
    schedule, zone = JOB_SCHEDULES.get(name, EVERY_30_MIN)
    job: dict[str, Any] = {
        "name": f"projects/{project}/locations/{region}/jobs/{name}",
        "schedule": schedule, "timeZone": zone, "state": "PAUSED" if paused else "ENABLED",
        "status": {"code": PERMISSION_DENIED} if denied else {}, "attemptDeadline": "300s",
    }
    if now is None:
        return job
    last, following = _fire_times(schedule, zone, now)
    job |= {"lastAttemptTime": _z(last - timedelta(days=2) if paused else last), "scheduleTime": _z(following)}
    if paused:
        job["userUpdateTime"] = _z(last - timedelta(days=1))
    return job


def scheduler_jobs(
    project: str, region: str, names: list[str], *, now: datetime | None, paused: frozenset[str] | set[str] = frozenset(),
    denied: frozenset[str] | set[str] = frozenset(),
) -> list[dict[str, Any]]:
    return [scheduler_job(project, region, name, now=now, paused=name in paused, denied=name in denied) for name in names]


def audit_entry(project: str, region: str, service: str, *, method: str, principal: str, at: datetime, v1: bool) -> dict[str, Any]:
    """One Admin Activity LogEntry of Cloud Run (https://cloud.google.com/run/docs/audit-logging): the v1 API names
    the service namespaces/PROJECT/services/NAME, the v2 API projects/PROJECT/locations/REGION/services/NAME."""
    resource = f"namespaces/{project}/services/{service}" if v1 else f"projects/{project}/locations/{region}/services/{service}"
    return {
        "insertId": hashlib.sha1(f"{service} {method} {_z(at)}".encode()).hexdigest()[:16],
        "logName": f"projects/{project}/logs/cloudaudit.googleapis.com%2Factivity",
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "authenticationInfo": {"principalEmail": principal},
            "methodName": f"google.cloud.run.{'v1' if v1 else 'v2'}.Services.{method}",
            "resourceName": resource, "serviceName": "run.googleapis.com",
        },
        "resource": {"type": "cloud_run_revision", "labels": {
            "project_id": project, "location": region, "service_name": service, "revision_name": "", "configuration_name": "",
        }},
        "severity": "NOTICE", "timestamp": _z(at), "receiveTimestamp": _z(at + timedelta(seconds=1)),
    }


def audit_log(project: str, region: str, services: list[str], *, now: datetime) -> list[dict[str, Any]]:
    """Newest first, as gcloud prints it: the redeploys of the broken services by one Cloud Build run from 00:58
    UTC (the first of the seeds' redeploy times), after yesterday's pipeline ran; and an older, healthy binding
    change elsewhere."""
    redeploy = datetime.combine(now.astimezone(timezone.utc).date(), time(0, 58), tzinfo=timezone.utc)
    if redeploy > now:
        redeploy -= timedelta(days=1)
    entries = []
    for offset, service in enumerate(s for s in BROKEN_SERVICES if s in services):
        entries.insert(0, audit_entry(project, region, service, method="ReplaceService", principal=REDEPLOYER,
                                      at=redeploy + timedelta(minutes=3 * offset), v1=True))
    others = [s for s in services if s not in BROKEN_SERVICES]
    if others:
        entries.append(audit_entry(project, region, others[0], method="SetIamPolicy", principal="pipeline-owner@example.com",
                                   at=redeploy - timedelta(days=3), v1=False))
    return entries


PUSH_RETRY_EVERY = timedelta(minutes=10)
"""Pub/Sub's retry backoff is at most 600 s (maximumBackoff's default and limit): a message refused for hours is
retried about every 10 minutes (https://cloud.google.com/pubsub/docs/subscription-retry-policy)."""
WAITING_FOR = {SECOND_HOP: "phase_3_analytics"}
"""A broken service -> the phase whose completion today published the message it cannot take: phase 3's
orchestrator published to nba-phase4-trigger. Phase 4 never completed, so nothing was sent to phase 5's."""


def _completed_today(pipeline: DemoPipeline, phase: str) -> datetime:
    """When `phase` completed today: the latest of its processors' first successes (re-runs come later)."""
    firsts: dict[str, datetime] = {}
    for row in pipeline.rows[PHASE_COMPLETIONS]:
        if row["game_date"] == pipeline.today and row["phase"] == phase and row["status"] == "success":
            firsts[row["processor_name"]] = min(row["completed_at"], firsts.get(row["processor_name"], row["completed_at"]))
    return max(firsts.values())


def _push_metrics(pipeline: DemoPipeline, project: str, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """Per-minute push counts of the last 30 minutes: acks to healthy services; a broken service with a message
    waiting gets that message's retries, every 10 min, refused with 403 (its oldest unacked message is as old
    as the completion that published it); a broken service with nothing to deliver gets no push at all."""
    series = []
    minutes = [now - timedelta(minutes=m) for m in range(0, 30, 3)]
    for subscription in pipeline.subscriptions:
        sid = subscription["name"].rsplit("/", 1)[-1]
        endpoint = subscription["pushConfig"]["pushEndpoint"]
        broken = next((s for s in BROKEN_SERVICES if f"https://{s}-" in endpoint), None)
        if broken in WAITING_FOR:
            retries = [now - PUSH_RETRY_EVERY * n - timedelta(minutes=2) for n in range(3)]
            series.append(push_series(project, sid, PUSH_REQUESTS, [(at, 1) for at in retries],
                                      response_class="remote_server_4xx", response_code="403"))
            published = _completed_today(pipeline, WAITING_FOR[broken])
            age = int((now - published).total_seconds())
            series.append(push_series(project, sid, OLDEST_UNACKED_AGE, [(at, age - int((now - at).total_seconds())) for at in minutes]))
        elif broken:
            series.append(push_series(project, sid, OLDEST_UNACKED_AGE, [(at, 0) for at in minutes]))
        else:
            series.append(push_series(project, sid, PUSH_REQUESTS, [(minutes[0], rng.randint(1, 2))],
                                      response_class="ack", response_code="success"))
            series.append(push_series(project, sid, OLDEST_UNACKED_AGE, [(at, 0) for at in minutes]))
    return series


def _game_day(pipeline: DemoPipeline, day: date, zone: ZoneInfo, rng: random.Random, *, broken: bool) -> None:
    games = [f"{day:%Y%m%d}_{away}_{home}" for away, home in _matchups(rng)]
    final = day < pipeline.today
    for index, game_id in enumerate(games):
        start = _at(day, time(19, 0), zone, minutes=30 * (index % 4))
        status = "final" if final else "scheduled"
        if broken and index == len(games) - 1:
            status = "postponed"  # a postponed game owes no predictions
        pipeline.rows[SCHEDULE].append(
            {"game_id": game_id, "game_date": day, "game_start_utc": start, "game_status": status}
        )
    phases = list(PHASE_PROCESSORS)
    # On the broken day, phase 4 never starts: nba-phase4-trigger cannot push to its service (the second hop).
    ran = phases[: phases.index("phase_4_precompute")] if broken else phases
    for phase in ran:
        _phase_rows(pipeline, phase, day, zone, rng)
    if not broken:
        _predictions(pipeline, day, games, zone, rng)
    playing = [g for g, row in zip(games, pipeline.rows[SCHEDULE][-len(games):]) if row["game_status"] != "postponed"]
    _raw_rows(pipeline, day, playing, zone, rng)


def _partial_phase(pipeline: DemoPipeline, day: date) -> None:
    """`day`'s phase 3 without PARTIAL_MISSING: no success of theirs was ever written (a day off: nothing to drop)."""
    pipeline.rows[PHASE_COMPLETIONS][:] = [
        r for r in pipeline.rows[PHASE_COMPLETIONS]
        if not (r["game_date"] == day and r["phase"] == PARTIAL_PHASE and r["processor_name"] in PARTIAL_MISSING)
    ]


def _raw_rows(pipeline: DemoPipeline, day: date, games: list[str], zone: ZoneInfo, rng: random.Random) -> None:
    """Phase 2's raw tables: the day's schedule, injuries and props that morning; box scores the next morning."""
    morning = PHASE_START_LOCAL["phase_2_raw"]
    for game_id in games:
        away, home = game_id[-7:-4], game_id[-3:]
        for report in (20, 11 * 60 + 30):  # the morning report and the 17:30 one
            for player in range(3):
                pipeline.rows[INJURY_REPORT].append({"game_date": day, "game_id": game_id,
                                                     "player_lookup": f"{game_id[-7:].lower()}player{player:02d}",
                                                     "injury_status": rng.choice(("out", "questionable", "probable")),
                                                     "processed_at": _at(day, morning, zone, minutes=report)})
        for refresh in (30, 8 * 60):  # the morning lines, refreshed at 14:00
            for player in range(12):
                pipeline.rows[PLAYER_PROPS].append({"game_date": day, "game_id": game_id,
                                                    "player_lookup": f"{game_id[-7:].lower()}player{player:02d}",
                                                    "bookmaker": "draftkings", "points_line": rng.randint(8, 30) + 0.5,
                                                    "processed_at": _at(day, morning, zone, minutes=refresh)})
        if day >= pipeline.today:
            continue  # tonight's games have no box score yet
        loaded = _at(day + timedelta(days=1), morning, zone, minutes=rng.uniform(1, 10))
        pipeline.rows[SCOREBOARD].append({"game_date": day, "game_id": game_id, "home_team_abbr": home,
                                          "away_team_abbr": away, "game_status_text": "Final", "processed_at": loaded})
        for team in (away, home):
            pipeline.rows[TEAM_BOXSCORE].append({"game_date": day, "game_id": game_id, "team_abbr": team,
                                                 "points": rng.randint(90, 130), "processed_at": loaded})
            for player in range(13):
                played = player < 10
                pipeline.rows[GAMEBOOK].append({
                    "game_date": day, "game_id": game_id, "player_lookup": f"{team.lower()}player{player:02d}",
                    "team_abbr": team, "player_status": "active" if played else "inactive",
                    "minutes": f"{rng.randint(8, 38)}:00" if played else None,
                    "points": rng.randint(0, 35) if played else None, "processed_at": loaded,
                })


def _schedule_load(pipeline: DemoPipeline, day: date, zone: ZoneInfo) -> None:
    """The schedule scraper runs every morning, games or not, and writes the games of its day and the
    SCHEDULE_AHEAD_DAYS after it (none in a long off-season: then it has nothing to write)."""
    last = min(day + timedelta(days=SCHEDULE_AHEAD_DAYS), pipeline.today)
    loaded = _at(day, PHASE_START_LOCAL["phase_2_raw"], zone, minutes=5)
    for game in pipeline.rows[SCHEDULE]:
        if day <= game["game_date"] <= last and game["game_status"] != "postponed":
            away, home = game["game_id"][-7:-4], game["game_id"][-3:]
            pipeline.rows[RAW_SCHEDULE].append({"game_date": game["game_date"], "game_id": game["game_id"],
                                                "home_team_abbr": home, "away_team_abbr": away,
                                                "game_status": "scheduled", "processed_at": loaded})


def _phase_rows(pipeline: DemoPipeline, phase: str, day: date, zone: ZoneInfo, rng: random.Random) -> None:
    rows = pipeline.rows[PHASE_COMPLETIONS]
    for slot, processor in enumerate(PHASE_PROCESSORS[phase]):
        completed = _at(day, PHASE_START_LOCAL[phase], zone, minutes=6 * slot + rng.uniform(0, 4))
        if phase == "phase_3_analytics" and slot == 0:
            # A failed run retried 10 minutes later: the failure never counts as completion.
            rows.append(_completion(day, phase, processor, "failed", completed, rng))
            completed += timedelta(minutes=10)
        rows.append(_completion(day, phase, processor, "success", completed, rng))
        if phase == "phase_3_analytics":
            # Phase 3 runs again after later phase 2 completions (injury report, props refresh).
            for rerun_hours in (4, 7):
                rows.append(_completion(day, phase, processor, "success", completed + timedelta(hours=rerun_hours), rng))


def _completion(day: date, phase: str, processor: str, status: str, at: datetime, rng: random.Random) -> dict[str, Any]:
    return {
        "game_date": day,
        "phase": phase,
        "processor_name": processor,
        "status": status,
        "completed_at": at,
        "record_count": rng.randint(50, 900) if status == "success" else None,
        "execution_id": f"{processor[:12].lower()}-{rng.getrandbits(32):08x}",
    }


def _predictions(pipeline: DemoPipeline, day: date, games: list[str], zone: ZoneInfo, rng: random.Random) -> None:
    created = _at(day, PHASE_START_LOCAL["phase_5_predictions"], zone, minutes=20)
    for game_id in games:
        for player in range(rng.randint(10, 14)):
            for system in SYSTEMS:
                pipeline.rows[PREDICTIONS].append(
                    {
                        "game_date": day,
                        "game_id": game_id,
                        "player_lookup": f"{game_id[-7:].lower()}player{player:02d}",
                        "system_id": system,
                        "created_at": created,
                        "is_active": None if player % 5 else rng.choice((True, False)),
                    }
                )


TEAMS = ("ATL", "BOS", "BKN", "CHA", "CHI", "CLE", "DAL", "DEN", "DET", "GSW", "HOU", "IND", "LAC", "LAL", "MEM",
         "MIA", "MIL", "MIN", "NOP", "NYK", "OKC", "ORL", "PHI", "PHX", "POR", "SAC", "SAS", "TOR", "UTA", "WAS")


def _matchups(rng: random.Random) -> list[tuple[str, str]]:
    teams = list(TEAMS)
    rng.shuffle(teams)
    count = rng.randint(6, 11)
    return [(teams[2 * i], teams[2 * i + 1]) for i in range(count)]


def write_demo(
    pipeline: DemoPipeline, local_dir: Path, *, dataset_prefix: str = "",
    progress: Callable[[str, int, int], None] | None = None,
) -> None:
    """The warehouse (its datasets prefixed like the canary's queries: staging reads test_nba_raw...), the IAM
    and push-chain files; `progress(table, rows written, rows of the table)` after each chunk: a long
    history takes minutes."""
    local_dir.mkdir(parents=True, exist_ok=True)
    files = (
        ("iam_policies.json", pipeline.policies), ("project_iam_policy.json", pipeline.project_policy),
        ("services.json", pipeline.services), ("subscriptions.json", pipeline.subscriptions),
        ("push_metrics.json", pipeline.push_metrics), ("scheduler_jobs.json", pipeline.scheduler_jobs),
        ("audit_log.json", pipeline.audit_log),
    )
    for name in ("warehouse.duckdb", *(name for name, _ in files)):
        refuse_link(local_dir / name)  # before anything is written: a link would be written through
    write_duckdb(local_dir / "warehouse.duckdb", pipeline.rows, dataset_prefix=dataset_prefix, progress=progress)
    for name, data in files:
        write_text(local_dir / name, json.dumps(data, indent=2) + "\n")
