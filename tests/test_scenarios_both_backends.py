"""One scenario suite, run on both backends: the local one (DuckDB + JSON file, SQLite, JSONL) and the
production adapters over real HTTP (google-cloud-bigquery -> bqemulator, google-cloud-run REST -> Cloud
Run fake, google-cloud-firestore -> the Firestore emulator, slack_sdk -> fake Slack), built by
main.build_canary from CANARY_BACKEND=gcp and the endpoint variables, as production builds it.

Each case states the findings the monitors' rules call for; both backends must produce exactly those,
and `test_backends_agree` checks that they also agree on every detail (evidence, since, fix, outcomes,
notifications).
"""

from __future__ import annotations

from collections import Counter

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from demo.pipeline import PHASE_PROCESSORS, audit_entry, invoker_policy, push_series, scheduler_jobs
from sources.push import OLDEST_UNACKED_AGE, PUSH_REQUESTS
from tests.production import PIPELINE, PUSH_MEMBER
from tests.scenario import Scenario, local, utc
from tests.servers.bqemulator import BqEmulator, bqemulator  # noqa: F401  (session fixture)
from tests.servers.fake_cloud_run import FakeCloudRun, fake_cloud_run  # noqa: F401  (fixture)
from tests.servers.fake_slack import FakeSlack, fake_slack  # noqa: F401  (fixture)
from tests.servers.fake_logging import FakeLogging, fake_logging  # noqa: F401  (fixture)
from tests.servers.fake_scheduler import FakeScheduler, fake_scheduler  # noqa: F401  (fixture)
from tests.servers.firestore_emulator import firestore_emulator, firestore_env  # noqa: F401  (fixtures)
from tests.servers.fake_monitoring import FakeMonitoring, fake_monitoring, fake_monitoring_server  # noqa: F401  (fixtures)
from tests.servers.pubsub_emulator import pubsub_emulator, pubsub_env  # noqa: F401  (fixtures)
from tests.servers.push_chain import load_push_chain
from tests.servers.stacks import BACKENDS, Stack, comparable, default_config, finding_keys, local_stack, production_stack

pytestmark = pytest.mark.servers

DAY = date(2026, 11, 21)  # a Saturday in EST (UTC-5)
P2, P3, P4, P5, P6 = "phase_2_raw", "phase_3_analytics", "phase_4_precompute", "phase_5_predictions", "phase_6_publishing"
T34 = f"{P3}->{P4}"
T45 = f"{P4}->{P5}"
T56 = f"{P5}->{P6}"
GAMES = ("20261121_BOS_NYK", "20261121_LAL_DEN", "20261121_GSW_POR")


# --- building blocks ------------------------------------------------------------------------


def pipeline(day: date = DAY, *, through: str = P6, games: bool = True, predictions: bool = True) -> Scenario:
    """A healthy game day up to `through`: every phase's processors succeed on time, games tonight."""
    s = Scenario()
    times = {P2: "06:30", P3: "08:30", P4: "10:30", P5: "11:45", P6: "12:45"}
    for phase in (P2, P3, P4, P5, P6):
        s.phase_complete(day, phase, local(day, times[phase]))
        if phase == through:
            break
    if games:
        for game_id, start in zip(GAMES, ("19:00", "19:30", "22:00")):
            s.game(day, game_id, start=local(day, start))
            if predictions:
                s.predictions(day, game_id, created_at=local(day, "12:00"))
    return s


def key(monitor: str, severity: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    return (monitor, tuple(sorted(labels.items())), severity)


def iam(service: str, problem: str, severity: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    return key("orchestrator_iam", severity, service=service, problem=problem)


def push(service: str, problem: str, severity: str = "critical") -> tuple[str, tuple[tuple[str, str], ...], str]:
    return key("push_delivery", severity, service=service, problem=problem)


def stall(transition: str, game_date: date = DAY) -> tuple[str, tuple[tuple[str, str], ...], str]:
    return key("phase_stalls", "critical", transition=transition, game_date=game_date.isoformat(), problem="stalled")


def sched(job: str, problem: str, severity: str = "critical") -> tuple[str, tuple[tuple[str, str], ...], str]:
    return key("scheduler_jobs", severity, job=job, problem=problem)


def incomplete(phase: str, game_date: date = DAY) -> tuple[str, tuple[tuple[str, str], ...], str]:
    return key("phase_stalls", "critical", phase=phase, game_date=game_date.isoformat(), problem="incomplete")


def failed(phase: str, processor: str, game_date: date = DAY) -> tuple[str, tuple[tuple[str, str], ...], str]:
    return key("phase_stalls", "warning", phase=phase, processor=processor, game_date=game_date.isoformat(), problem="failed")


def preds(problem: str, game_date: date = DAY) -> tuple[str, tuple[tuple[str, str], ...], str]:
    severity = "critical" if problem == "none" else "warning"
    return key("missing_predictions", severity, game_date=game_date.isoformat(), system_id="catboost_v9", problem=problem)


@dataclass
class Case:
    scenario: Scenario
    now: datetime
    expected: set[Any]
    outcomes: dict[str, str] = field(default_factory=dict)
    """Monitor outcomes to check besides the findings (e.g. no_data)."""
    config: dict[str, Any] = field(default_factory=dict)
    game_date: date | None = None


EVENING = local(DAY, "18:30")
NOON = local(DAY, "12:00")
MEMBER_POLICY = invoker_policy(PUSH_MEMBER)


def _healthy() -> Case:
    return Case(pipeline(), EVENING, set(), outcomes={"orchestrator_iam": "ok", "push_delivery": "ok", "phase_stalls": "ok",
                                                      "missing_predictions": "ok", "scheduler_jobs": "ok"})


# IAM rules
def _iam_missing_invoker() -> Case:
    s = pipeline().policy("phase4-to-phase5-orchestrator", invoker_policy("serviceAccount:other@example.iam.gserviceaccount.com"))
    return Case(s, EVENING, {iam("phase4-to-phase5-orchestrator", "missing_invoker", "critical"),
                             push("phase4-to-phase5-orchestrator", "push_account_cannot_invoke")})


def _iam_no_bindings() -> Case:
    s = pipeline().policy("phase5-to-phase6-orchestrator", {"etag": "BwYAAAAAAAA="})
    s.policy("phase3-to-phase4-orchestrator", invoker_policy())  # only a developer binding
    return Case(
        s, EVENING,
        {iam("phase5-to-phase6-orchestrator", "missing_invoker", "critical"),
         iam("phase3-to-phase4-orchestrator", "missing_invoker", "critical"),
         push("phase5-to-phase6-orchestrator", "push_account_cannot_invoke"),
         push("phase3-to-phase4-orchestrator", "push_account_cannot_invoke")},
    )


def _iam_conditional() -> Case:
    policy = {
        "version": 3,
        "bindings": [
            {
                "role": "roles/run.invoker",
                "members": [PUSH_MEMBER],
                "condition": {"title": "until-2026", "expression": "request.time < timestamp('2026-01-01T00:00:00Z')"},
            }
        ],
    }
    return Case(pipeline().policy("phase4-to-phase5-orchestrator", policy), EVENING,
                {iam("phase4-to-phase5-orchestrator", "conditional_invoker", "warning"),
                 push("phase4-to-phase5-orchestrator", "push_account_cannot_invoke")})


def _iam_public() -> Case:
    s = pipeline().policy("phase3-to-phase4-orchestrator", invoker_policy(PUSH_MEMBER, "allUsers"))
    s.policy("phase5-to-phase6-orchestrator", invoker_policy("allAuthenticatedUsers"))
    return Case(
        s, EVENING,
        # allAuthenticatedUsers includes every service account: the push account CAN invoke 5->6.
        {iam("phase3-to-phase4-orchestrator", "public_invoker", "warning"),
         iam("phase5-to-phase6-orchestrator", "public_invoker", "warning")},
    )


def _iam_not_found() -> Case:
    s = pipeline().policy("phase5-to-phase6-orchestrator", None)
    s.policy("phase2-to-phase3-orchestrator", None)  # removed on purpose; not configured, not checked
    return Case(s, EVENING, {iam("phase5-to-phase6-orchestrator", "not_found", "critical")})


# phase_stalls rules (at noon predictions are not due yet: only the stall rules speak)
def _stalled() -> Case:
    return Case(pipeline(through=P4, predictions=False), NOON, {stall(T45)})


def _stall_deadline_not_passed() -> Case:
    # Phase 4 complete at 10:30, max delay 60 min: at 11:30 exactly it is not late yet.
    return Case(pipeline(through=P4, predictions=False), local(DAY, "11:30"), set())


def _stall_deadline_passed() -> Case:
    return Case(pipeline(through=P4, predictions=False), local(DAY, "11:31"), {stall(T45)})


def _not_complete() -> Case:
    s = pipeline(through=P3, predictions=False)
    for index, name in enumerate(PHASE_PROCESSORS[P4][:4]):  # 4 of 5 processors: not complete, never a stall
        s.completion(DAY, P4, name, local(DAY, f"10:{10 + index:02d}"))
    return Case(s, local(DAY, "14:00"), set())


def _downstream_success() -> Case:
    return Case(pipeline(through=P5, predictions=False), local(DAY, "12:30"), set())


def _downstream_success_before_completion() -> Case:
    # A phase 5 success from before phase 4 completed does not count as phase 5 starting after it.
    s = pipeline(through=P4, predictions=False).completion(DAY, P5, "PredictionCoordinator", local(DAY, "09:00"))
    return Case(s, NOON, {stall(T45), stall(T56)})


def _downstream_only_failed() -> Case:
    s = pipeline(through=P4, predictions=False)
    s.completion(DAY, P5, "PredictionCoordinator", local(DAY, "11:00"), status="failed")
    return Case(s, NOON, {stall(T45)})


def _phase3_reruns() -> Case:
    # Phase 3 runs again at 12:30 and 15:30: its completion is its first, not its last, success.
    s = pipeline()
    for name in PHASE_PROCESSORS[P3]:
        for at in ("12:30", "15:30"):
            s.completion(DAY, P3, name, local(DAY, at))
    return Case(s, EVENING, set())


def four_of_five_then_failed() -> Scenario:
    """Phase 4: four processors succeed 10:10-10:13, the fifth fails at 10:30."""
    s = pipeline(through=P3, predictions=False)
    names = PHASE_PROCESSORS[P4]
    for index, name in enumerate(names[:4]):
        s.completion(DAY, P4, name, local(DAY, f"10:{10 + index:02d}"))
    return s.completion(DAY, P4, names[4], local(DAY, "10:30"), status="failed")


def _failed_row_never_completes() -> Case:
    # Never a stall; the fifth processor's failed run, not retried within the hour, is its own warning.
    return Case(four_of_five_then_failed(), local(DAY, "14:00"), {failed(P4, PHASE_PROCESSORS[P4][4])})


def _failed_row_within_its_retry_grace() -> Case:
    return Case(four_of_five_then_failed(), local(DAY, "11:30"), set())  # failed 10:30, retry_grace 1 h


def _phase3_rerun_failed_after_success() -> Case:
    # Phase 3 runs several times a day: a later re-run that fails (and is not retried) is the latest run.
    s = pipeline()
    s.completion(DAY, P3, "PlayerGameSummaryProcessor", local(DAY, "13:30"), status="failed")
    return Case(s, EVENING, {failed(P3, "PlayerGameSummaryProcessor")})


# Partial phases: phase 3 of a game date finishes the morning after it (complete_by = "36h": noon of the next day).
YESTERDAY = DAY - timedelta(days=1)


def partial_phase3_yesterday() -> Scenario:
    """Today healthy; yesterday's phase 3 has 3 of its 5 processors: the game-day Upcoming* ones and one
    of the morning-after ones; PlayerGameSummaryProcessor failed this morning and was never retried."""
    s = pipeline()
    s.phase_complete(YESTERDAY, P2, local(YESTERDAY, "06:30"))
    s.completion(YESTERDAY, P3, "UpcomingPlayerGameContextProcessor", local(YESTERDAY, "10:30"))
    s.completion(YESTERDAY, P3, "UpcomingTeamGameContextProcessor", local(YESTERDAY, "10:32"))
    s.completion(YESTERDAY, P3, "TeamOffenseGameSummaryProcessor", local(DAY, "06:05"))
    s.completion(YESTERDAY, P3, "PlayerGameSummaryProcessor", local(DAY, "06:10"), status="failed")
    return s


def _partial_phase3() -> Case:
    return Case(partial_phase3_yesterday(), EVENING, {
        incomplete(P3, YESTERDAY), failed(P3, "PlayerGameSummaryProcessor", YESTERDAY),
    })


def _partial_phase3_before_its_complete_by() -> Case:
    # 11:59, the day after: not judged incomplete until noon; the failed run (06:10) is past its grace.
    return Case(partial_phase3_yesterday(), local(DAY, "11:59"), {failed(P3, "PlayerGameSummaryProcessor", YESTERDAY)})


def _partial_phase3_completed_late() -> Case:
    s = partial_phase3_yesterday()
    s.completion(YESTERDAY, P3, "PlayerGameSummaryProcessor", local(DAY, "13:00"))
    s.completion(YESTERDAY, P3, "TeamDefenseGameSummaryProcessor", local(DAY, "13:05"))
    s.phase_complete(YESTERDAY, P4, local(DAY, "13:40"))
    return Case(s, EVENING, {stall(T45, YESTERDAY)})  # phase 3 done, so 4->5 is judged; phase 5 never ran


# The second hop of 3->4: phase3-to-phase4-orchestrator publishes to nba-phase4-trigger, which pushes to
# nba-phase4-precompute-processors; a redeploy dropped that service's invoker binding.
SECOND_HOP = "nba-phase4-precompute-processors"


def _second_hop_missing_invoker() -> Case:
    s = pipeline(through=P3, predictions=False).policy(SECOND_HOP, invoker_policy())
    return Case(s, NOON, {iam(SECOND_HOP, "missing_invoker", "critical"), push(SECOND_HOP, "push_account_cannot_invoke"),
                          stall(T34)})


def _failed_then_retried() -> Case:
    # The 5th processor failed at 10:30 and succeeded at 10:40: complete at 10:40, late only after 11:40.
    s = four_of_five_then_failed().completion(DAY, P4, PHASE_PROCESSORS[P4][4], local(DAY, "10:40"))
    return Case(s, local(DAY, "11:35"), set())


REQUIRED = {
    "transitions": [
        {"from": P4, "to": P5, "service": "phase4-to-phase5-orchestrator",
         "required_processors": ["MlFeatureStoreProcessor", "PlayerDailyCacheProcessor"], "max_delay": "60m"},
    ]
}


def _required_processors_complete() -> Case:
    # Only the two required processors succeeded (min_processors=5 would call this incomplete).
    s = pipeline(through=P3, predictions=False)
    s.completion(DAY, P4, "PlayerDailyCacheProcessor", local(DAY, "10:00"))
    s.completion(DAY, P4, "MlFeatureStoreProcessor", local(DAY, "10:20"))
    return Case(s, local(DAY, "11:21"), {stall(T45)}, config={"pipeline": REQUIRED})


def _required_processors_missing_one() -> Case:
    # Five processors succeeded, but not MlFeatureStoreProcessor: not complete under required_processors.
    s = pipeline(through=P3, predictions=False)
    for index, name in enumerate([n for n in PHASE_PROCESSORS[P4] if n != "MlFeatureStoreProcessor"] + ["ExtraProcessor"]):
        s.completion(DAY, P4, name, local(DAY, f"10:{index:02d}"))
    return Case(s, local(DAY, "14:00"), set(), config={"pipeline": REQUIRED})


# the league-local calendar
def _late_evening_eastern() -> Case:
    # 23:30 in New York is 04:30 UTC the next day: "today" is still Nov 21, never UTC's date.
    s = pipeline(through=P4, predictions=False)
    s.game(DAY + timedelta(days=1), "20261122_MIA_CHI", start=local(DAY + timedelta(days=1), "19:00"))
    return Case(s, utc("2026-11-22T04:30"), {stall(T45), preds("none")})


def _just_after_midnight_eastern() -> Case:
    # 00:30 Nov 22 in New York: Nov 21 is yesterday (still checked for stalls); Nov 22's games not due.
    s = pipeline(through=P4, predictions=False)
    tomorrow = DAY + timedelta(days=1)
    s.game(tomorrow, "20261122_MIA_CHI", start=local(tomorrow, "19:00"))
    return Case(s, utc("2026-11-22T05:30"), {stall(T45)})


def _explicit_date() -> Case:
    # --date checks one game date: Nov 20's missing predictions, run on Nov 21 evening.
    s = pipeline()
    before = DAY - timedelta(days=1)
    s.game(before, "20261120_BOS_NYK", start=local(before, "19:00"))
    return Case(s, EVENING, {preds("none", before)}, game_date=before)


# missing_predictions rules
def _no_games() -> Case:
    return Case(pipeline(games=False), EVENING, set(), outcomes={"missing_predictions": "no_data"})


def _predictions_none() -> Case:
    return Case(pipeline(predictions=False), EVENING, {preds("none")}, outcomes={"missing_predictions": "firing"})


def _predictions_partial() -> Case:
    s = pipeline(predictions=False)
    s.predictions(DAY, GAMES[0], created_at=local(DAY, "12:00"))
    return Case(s, EVENING, {preds("partial")})


def _predictions_not_due() -> Case:
    # First tip-off 19:00, lead time 3 h: due at 16:00; at 15:59 nothing is owed yet.
    return Case(pipeline(predictions=False), local(DAY, "15:59"), set())


def _predictions_due_now() -> Case:
    return Case(pipeline(predictions=False), local(DAY, "16:01"), {preds("none")})


def _predictions_postponed() -> Case:
    s = pipeline()
    s.game(DAY, "20261121_MIA_CHI", start=local(DAY, "19:00"), status="postponed")
    s.game(DAY, "20261121_PHX_SAC", start=None, status="cancelled")
    return Case(s, EVENING, set())


def _predictions_inactive_or_other_system() -> Case:
    s = pipeline(predictions=False)
    s.predictions(DAY, GAMES[0], created_at=local(DAY, "12:00"), is_active=False)
    s.predictions(DAY, GAMES[1], created_at=local(DAY, "12:00"), system_id="ensemble_v1")
    s.predictions(DAY, GAMES[2], created_at=local(DAY, "12:00"), is_active=True)
    return Case(s, EVENING, {preds("partial")})


def _predictions_created_after_now() -> Case:
    s = pipeline(predictions=False)
    for game_id in GAMES:
        s.predictions(DAY, game_id, created_at=local(DAY, "19:00"))
    return Case(s, EVENING, {preds("none")})


def _predictions_fallback_due() -> Case:
    # No start times known: due at 13:00 New York time.
    s = pipeline(games=False)
    for game_id in GAMES:
        s.game(DAY, game_id, start=None)
    return Case(s, local(DAY, "13:05"), {preds("none")})


def _demo_like_incident(*, pushes_for: timedelta = timedelta(hours=3)) -> Case:
    # The seeds' outage: invoker dropped, phase 5 never started, no predictions tonight.
    s = pipeline(through=P4, predictions=False).policy("phase4-to-phase5-orchestrator", invoker_policy())
    # The redeploy that dropped the binding (v1 API: namespaces/P/services/S), and an older change elsewhere (v2 name).
    s.audit_entries = [
        audit_entry(PIPELINE.project, PIPELINE.region, "phase4-to-phase5-orchestrator", method="ReplaceService",
                    principal="756957797294@cloudbuild.gserviceaccount.com", at=REDEPLOY, v1=True),
        audit_entry(PIPELINE.project, PIPELINE.region, "phase3-to-phase4-orchestrator", method="SetIamPolicy",
                    principal="pipeline-owner@example.com", at=REDEPLOY - timedelta(days=2), v1=False),
    ]
    yesterday = DAY - timedelta(days=1)
    for phase, at in ((P2, "06:30"), (P3, "08:30"), (P4, "10:30"), (P5, "11:45"), (P6, "12:45")):
        s.phase_complete(yesterday, phase, local(yesterday, at))
    # Its pushes rejected with 403 every few minutes since (and for the later runs of a test), the
    # oldest message unacked since phase 4 completed at 10:30.
    sid = next(x for x in s.subscriptions if "phase4-to-phase5" in x["pushConfig"]["pushEndpoint"])["name"].rsplit("/", 1)[-1]
    minutes = [EVENING + timedelta(minutes=m) for m in range(-27, int(pushes_for.total_seconds() // 60), 3)]
    phase4_done = local(DAY, "10:30")
    s.push_series += [
        push_series(PIPELINE.project, sid, PUSH_REQUESTS, [(at, 2) for at in minutes], response_class="remote_server_4xx", response_code="403"),
        push_series(PIPELINE.project, sid, OLDEST_UNACKED_AGE, [(at, int((at - phase4_done).total_seconds())) for at in minutes]),
    ]
    return Case(
        s, EVENING,
        {iam("phase4-to-phase5-orchestrator", "missing_invoker", "critical"), stall(T45), preds("none"),
         push("phase4-to-phase5-orchestrator", "push_account_cannot_invoke"),
         push("phase4-to-phase5-orchestrator", "pushes_failing"), push("phase4-to-phase5-orchestrator", "backlog", "warning")},
    )


# scheduler_jobs rules: the jobs as Cloud Scheduler answers them at the case's moment
WATCHED = [job["name"].rsplit("/", 1)[-1] for job in Scenario().scheduler_jobs]
REDEPLOY = utc("2026-11-21T00:58")  # the seeds' first redeploy time, the evening before DAY in New York


def jobs_at(now: datetime, *, paused: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    return scheduler_jobs(PIPELINE.project, PIPELINE.region, WATCHED, now=now, paused=paused)


def _scheduler_jobs_on_time() -> Case:
    s = pipeline()
    s.scheduler_jobs = jobs_at(EVENING)
    return Case(s, EVENING, set(), outcomes={"scheduler_jobs": "ok"})


def _scheduler_backup_job_paused() -> Case:
    # The seeds' backup of 3->4, paused by a user: the on-call's fix would not run.
    s = pipeline()
    s.scheduler_jobs = jobs_at(EVENING, paused=frozenset({"same-day-phase4"}))
    return Case(s, EVENING, {sched("same-day-phase4", "paused")})


def _scheduler_jobs_missing_failing_late() -> Case:
    # The predictions job does not exist; the extra job's last attempt failed (warning); the canary's own job
    # has not run for two hours (its next time passed with no attempt since).
    s = pipeline()
    jobs = [j for j in jobs_at(EVENING) if not j["name"].endswith("/same-day-predictions")]
    for job in jobs:
        if job["name"].endswith("/same-day-phase3-tomorrow"):
            job["status"] = {"code": 13, "message": "HTTP 500 from the target"}
        if job["name"].endswith("/pipeline-canary"):
            job["scheduleTime"] = "2026-11-21T21:30:00Z"
            job["lastAttemptTime"] = "2026-11-21T21:00:00Z"
    s.scheduler_jobs = jobs
    return Case(s, EVENING, {sched("same-day-predictions", "not_found"), sched("same-day-phase3-tomorrow", "failing", "warning"),
                             sched("pipeline-canary", "late")})


def _scheduler_other_job_states() -> Case:
    # DISABLED (by the system) and UPDATE_FAILED are not ENABLED either: the job will not run.
    s = pipeline()
    jobs = jobs_at(EVENING)
    for job in jobs:
        if job["name"].endswith("/same-day-phase3"):
            job["state"] = "DISABLED"
        if job["name"].endswith("/same-day-phase3-tomorrow"):
            job["state"] = "UPDATE_FAILED"
    s.scheduler_jobs = jobs
    return Case(s, EVENING, {sched("same-day-phase3", "paused"), sched("same-day-phase3-tomorrow", "paused", "warning")})


CASES: dict[str, Callable[[], Case]] = {
    name.removeprefix("_"): builder
    for name, builder in list(globals().items())
    if name.startswith("_") and callable(builder) and getattr(builder, "__annotations__", {}).get("return") == "Case"
}


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_stack(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Stack]]:
    """make_stack(backend, config=None) -> a Stack; the gcp one gets its own BigQuery project."""
    made: list[FakeCloudRun] = []

    def make(backend: str, config: Any = None) -> Stack:
        if backend == "local":
            return local_stack(tmp_path / "local", config)
        emulator: BqEmulator = request.getfixturevalue("bqemulator")
        fake: FakeCloudRun = request.getfixturevalue("fake_cloud_run")
        slack: FakeSlack = request.getfixturevalue("fake_slack")
        made.append(fake)
        from tests.servers.fake_slack import TOKEN

        firestore = request.getfixturevalue("firestore_env")  # FIRESTORE_EMULATOR_HOST set, database emptied
        pubsub = request.getfixturevalue("pubsub_env")  # PUBSUB_EMULATOR_HOST set, emulator emptied
        monitoring: FakeMonitoring = request.getfixturevalue("fake_monitoring")
        scheduler: FakeScheduler = request.getfixturevalue("fake_scheduler")
        logging: FakeLogging = request.getfixturevalue("fake_logging")

        def load_push(scenario: Scenario) -> None:
            load_push_chain(scenario, cloud_run=fake, monitoring=monitoring, pubsub=pubsub)
            scheduler.set_jobs(scenario.scheduler_jobs)
            logging.set_entries(scenario.audit_entries)
        stack = production_stack(
            tmp_path / "gcp",
            env={
                "CANARY_GCP_PROJECT": emulator.new_project(),
                "CANARY_BIGQUERY_ENDPOINT": emulator.endpoint,
                "CANARY_RUN_ENDPOINT": fake.endpoint,
                "CANARY_RESOURCE_MANAGER_ENDPOINT": fake.endpoint,
                "CANARY_SLACK_BASE_URL": slack.base_url,
                "CANARY_SLACK_BOT_TOKEN": TOKEN,
                "FIRESTORE_EMULATOR_HOST": firestore.host,
                "PUBSUB_EMULATOR_HOST": pubsub.host,
                "CANARY_MONITORING_ENDPOINT": monitoring.host,
                "CANARY_SCHEDULER_ENDPOINT": scheduler.endpoint,
                "CANARY_LOGGING_ENDPOINT": logging.endpoint,
            },
            monkeypatch=request.getfixturevalue("monkeypatch"),
            load_warehouse=lambda project, scenario: emulator.load(project, scenario.rows_by_table),
            set_policies=fake.set_policies,
            load_push=load_push,
            config=config,
        )
        assert {type(stack.canary.store).__name__, type(stack.canary.notifier).__name__} == {
            "FirestoreStateStore", "SlackNotifier"
        }
        return stack

    yield make


def run_case(make_stack: Callable[..., Stack], backend: str, case: Case) -> Any:
    stack = make_stack(backend, default_config(**case.config) if case.config else None)
    stack.load(case.scenario)
    return stack.run(case.now, game_date=case.game_date)


# --- the suite --------------------------------------------------------------------------------


@pytest.mark.parametrize("case_name", sorted(CASES))
def test_scenario(
    case_name: str, backend: str, make_stack: Callable[..., Stack], request: pytest.FixtureRequest
) -> None:
    case = CASES[case_name]()
    report = run_case(make_stack, backend, case)
    errors = {m.name: m.error for m in report.monitors if m.outcome.value == "error"}
    assert not errors, errors
    assert finding_keys(report) == case.expected
    outcomes = {m.name: m.outcome.value for m in report.monitors}
    for name, outcome in case.outcomes.items():
        assert outcomes[name] == outcome, (name, outcomes)
    # Every finding is new on a first run: exactly one `first` notice each, all delivered.
    assert sorted(n.reason.value for n in report.notifications) == ["first"] * len(case.expected)
    assert all(n.delivered for n in report.notifications), report.notifications
    if backend == "gcp":  # through slack_sdk to the fake Slack: one message per notice, and a summary above group_after
        # Notices go to the channel or, when a cause explains them, to the cause's thread: one summary per place
        # that gets more than group_after of them.
        places = Counter(f.caused_by for f in report.findings)
        summary = sum(1 for count in places.values() if count > default_config().alerts.group_after)
        assert len(request.getfixturevalue("fake_slack").posted()) == len(case.expected) + summary


@pytest.mark.parametrize(
    "case_name",
    ["demo_like_incident", "iam_conditional", "predictions_partial", "downstream_only_failed", "late_evening_eastern",
     "no_games", "scheduler_jobs_missing_failing_late", "scheduler_backup_job_paused", "second_hop_missing_invoker", "partial_phase3"],
)
def test_backends_agree(case_name: str, make_stack: Callable[..., Stack]) -> None:
    """Not only the same keys: the same evidence, since, fix, outcomes and notifications, field by field."""
    case = CASES[case_name]()
    local_view = comparable(run_case(make_stack, "local", case))
    gcp_view = comparable(run_case(make_stack, "gcp", case))
    assert gcp_view == local_view


def test_notification_lifecycle(backend: str, make_stack: Callable[..., Stack]) -> None:
    """first -> quiet while unchanged -> repeat after 2 h (critical) -> resolved once fixed."""
    stack = make_stack(backend)
    broken = pipeline().policy("phase4-to-phase5-orchestrator", invoker_policy())
    stack.load(broken)
    first = stack.run(EVENING)  # missing_invoker, and push_delivery's push_account_cannot_invoke
    assert [n.reason.value for n in first.notifications] == ["first"] * 2
    quiet = stack.run(EVENING + timedelta(minutes=30))
    assert quiet.notifications == []
    repeat = stack.run(EVENING + timedelta(hours=2))
    # One cause, one incident: the binding's repeat names push_delivery's finding, which it explains.
    [cause] = [f for f in first.findings if f.caused_by is None]
    assert [(n.fingerprint, n.reason.value) for n in repeat.notifications] == [(cause.fingerprint, "repeat")]
    stack.load(pipeline())
    resolved = stack.run(EVENING + timedelta(hours=2, minutes=30))
    assert [(n.reason.value, n.delivered) for n in resolved.notifications] == [("resolved", True)] * 2
    assert resolved.findings == []
    again = stack.run(EVENING + timedelta(hours=3))
    assert again.notifications == []


@pytest.mark.parametrize("fault", ["forbidden", "server_error", "malformed", "slow"])
def test_cloud_run_fake_faults_reach_the_real_client(
    fault: str, make_stack: Callable[..., Stack], fake_cloud_run: FakeCloudRun  # noqa: F811
) -> None:
    """The fake's own faults, read by google-cloud-run's REST transport: the monitors reading Cloud Run error, naming it."""
    # Only "slow" needs the timeout to cut in; the others keep room for the other monitors' reads on a loaded
    # machine (a 1 s bound once timed out phase_stalls' emulator query under a load average of 9).
    timeout = 3 if fault == "slow" else 30
    stack = make_stack("gcp", default_config(monitor_timeout=timeout))
    stack.load(pipeline())
    fake_cloud_run.fault, fake_cloud_run.slow_seconds = fault, 2 * timeout if fault == "slow" else 3
    report = stack.run(EVENING)
    outcomes = {m.name: (m.outcome.value, m.source) for m in report.monitors}
    # A monitor cut off by its timeout is named by its port's source: push_delivery's reads several APIs.
    push_source = "push_chain" if fault == "slow" and outcomes["push_delivery"][1] != "cloud_run" else "cloud_run"
    assert outcomes == {
        "orchestrator_iam": ("error", "cloud_run"), "push_delivery": ("error", push_source),
        "phase_stalls": ("ok", None), "missing_predictions": ("ok", None),
        "scheduler_jobs": ("ok", None),  # reads Cloud Scheduler, not Cloud Run: its jobs are healthy
    }
    assert {m for m, _ in fake_cloud_run.requests} == {"GET"}  # what run_v2's REST getIamPolicy really sends


def test_a_malformed_heartbeat_url_on_the_gcp_backend_degrades_never_stops_the_run(
    make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11, defect 1, as deployed: every real run crashed before any monitor ran (HTTP 500)."""
    import json as json_

    from run.configure import load_settings
    from run.observe import observed_run
    from run.steps import RunRequest

    uuid = "0f3c2a1e-5b7d-4e21-9a6c-8d1f2e3b4c5d"
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", f"https://[hc-ping.com]/{uuid}")
    stack = make_stack("gcp")
    stack.load(pipeline().policy("phase4-to-phase5-orchestrator", invoker_policy()))
    settings = load_settings()
    report, record = observed_run(stack.canary, RunRequest(run_id="gcp-hb", now=EVENING), heartbeat_url=settings.heartbeat_url,
                                  secrets=settings.secrets(), started=0.0)
    assert all(m.outcome.value != "error" for m in report.monitors)
    keys = {(f.monitor, f.key.get("setting"), f.key["problem"]) for f in report.findings}
    # The setting's warning beside the broken binding's findings (its own and its push account's).
    assert keys == {("canary", "CANARY_HEARTBEAT_URL", "invalid_setting"), ("orchestrator_iam", None, "missing_invoker"),
                    ("push_delivery", None, "push_account_cannot_invoke")}
    assert all(n.delivered for n in report.notifications) and len(report.notifications) == 3
    shown = json_.dumps(report.model_dump(mode="json")) + json_.dumps(record)
    assert uuid not in shown and "hc-ping.com" not in shown


def _fixed_at(fixed: datetime, *, phase5: datetime | None) -> Scenario:
    """The demo's outage with the binding restored at `fixed`: 403s before it, acknowledged pushes after it (the
    backlog drains); phase 5 and tonight's predictions follow at `phase5` (None: not yet)."""
    s = pipeline(through=P4 if phase5 is None else P6, predictions=phase5 is not None)
    yesterday = DAY - timedelta(days=1)
    for phase, at in ((P2, "06:30"), (P3, "08:30"), (P4, "10:30"), (P5, "11:45"), (P6, "12:45")):
        s.phase_complete(yesterday, phase, local(yesterday, at))
    sid = next(x for x in s.subscriptions if "phase4-to-phase5" in x["pushConfig"]["pushEndpoint"])["name"].rsplit("/", 1)[-1]
    phase4_done = local(DAY, "10:30")
    before = [at for at in (EVENING + timedelta(minutes=m) for m in range(-27, 300, 3)) if at < fixed]
    after = [at for at in (EVENING + timedelta(minutes=m) for m in range(-27, 300, 3)) if at >= fixed]
    s.push_series += [
        push_series(PIPELINE.project, sid, PUSH_REQUESTS, [(at, 2) for at in before], response_class="remote_server_4xx", response_code="403"),
        push_series(PIPELINE.project, sid, PUSH_REQUESTS, [(at, 2) for at in after], response_class="ack", response_code="200"),
        push_series(PIPELINE.project, sid, OLDEST_UNACKED_AGE,
                    [(at, int((at - phase4_done).total_seconds())) for at in before] + [(at, 30) for at in after]),
    ]
    return s


def _channel_parents(stack: Stack, request: pytest.FixtureRequest) -> list[str]:
    """The titles of the channel-level messages posted so far (Slack's parents, or notifications.jsonl's)."""
    if stack.backend == "gcp":
        return [m.text for m in request.getfixturevalue("fake_slack").parents()]
    import json as json_

    lines = [json_.loads(line) for line in stack.notifications_file.read_text(encoding="utf-8").splitlines()]
    return [line["title"] for line in lines if line["thread"] is None and line["reason"] != "digest"]


@pytest.mark.parametrize("clears_in_grace", [True, False], ids=["effects-clear-in-grace", "effects-outlast-grace"])
def test_the_fix_moment_never_posts_two_parents_for_one_chain(
    backend: str, clears_in_grace: bool, make_stack: Callable[..., Stack], request: pytest.FixtureRequest
) -> None:
    """Issue 19 item 4: the binding restored, the stall and the missing predictions still fire for a while."""
    stack = make_stack(backend)
    stack.load(CASES["demo_like_incident"]().scenario)
    first = stack.run(EVENING)
    assert len(_channel_parents(stack, request)) == 1  # one cause, one thread
    fixed = EVENING + timedelta(minutes=1)
    stack.load(_fixed_at(fixed, phase5=None))
    fix_moment = stack.run(EVENING + timedelta(minutes=35))
    assert {f.monitor for f in fix_moment.findings} == {"phase_stalls", "missing_predictions"}
    assert {n.monitor for n in fix_moment.notifications} == {"orchestrator_iam", "push_delivery"}
    assert {n.reason.value for n in fix_moment.notifications} == {"resolved"}
    assert len(_channel_parents(stack, request)) == 1  # the effects stay in the resolved cause's thread
    if clears_in_grace:
        stack.load(_fixed_at(fixed, phase5=EVENING + timedelta(minutes=50)))
        cleared = stack.run(EVENING + timedelta(hours=1, minutes=5))
        assert sorted((n.monitor, n.reason.value) for n in cleared.notifications) == [
            ("missing_predictions", "resolved"), ("phase_stalls", "resolved")]
        assert len(_channel_parents(stack, request)) == 1  # resolved where they lived
    else:
        assert stack.run(EVENING + timedelta(hours=2)).notifications == []  # within the grace (2 h from the fix)
        late = stack.run(EVENING + timedelta(hours=2, minutes=35))
        assert sorted((n.monitor, n.reason.value) for n in late.notifications) == [
            ("missing_predictions", "repeat"), ("phase_stalls", "repeat")]
        parents = _channel_parents(stack, request)
        assert len(parents) == 2 and "phase_5_predictions has not started" in parents[-1], parents
        # One new incident: the stall is its parent, the missing predictions reply in its thread.
        by_monitor = {n.monitor: n.fingerprint for n in late.notifications}
        records = stack.canary.store.load(fingerprints=list(by_monitor.values()))
        stall_record, predictions_record = records[by_monitor["phase_stalls"]], records[by_monitor["missing_predictions"]]
        assert stall_record.caused_by is None
        assert (predictions_record.caused_by, predictions_record.thread_ts) == (stall_record.fingerprint, stall_record.thread_ts)
    assert first.notifications and all(n.delivered for n in first.notifications)


def test_the_binding_alert_says_who_changed_it_when_and_how(backend: str, make_stack: Callable[..., Stack]) -> None:
    """The audit log's latest change of the service (the redeploy, matched by its v1 name) is in the alerts of
    the binding and of the push account; the older change of another service is not."""
    report = run_case(make_stack, backend, CASES["demo_like_incident"]())
    told = {(f.monitor, f.key["problem"]): f.details for f in report.findings if "last_change" in f.details}
    assert set(told) == {("orchestrator_iam", "missing_invoker"), ("push_delivery", "push_account_cannot_invoke")}
    for details in told.values():
        assert details["last_change"] == (
            "ReplaceService (a redeploy) by 756957797294@cloudbuild.gserviceaccount.com at 2026-11-20 19:58 EST (00:58 UTC)"
        )
        link = details["last_change_entry"]
        assert link.startswith("https://console.cloud.google.com/logs/query;query=insertId%3D%22")
        assert link.endswith(";startTime=2026-11-21T00:57:00Z;endTime=2026-11-21T00:59:00Z?project=nba-props-platform")


def test_an_unreadable_audit_log_never_blocks_the_alert(backend: str, make_stack: Callable[..., Stack], request: pytest.FixtureRequest) -> None:
    stack = make_stack(backend)
    stack.load(CASES["demo_like_incident"]().scenario)
    if backend == "gcp":
        request.getfixturevalue("fake_logging").fault = "forbidden"  # the canary lacks roles/logging.viewer
    else:
        (stack.workdir / "audit_log.json").unlink()
    report = stack.run(EVENING)
    [iam] = [f for f in report.findings if f.monitor == "orchestrator_iam"]
    assert iam.key["problem"] == "missing_invoker" and iam.severity.value == "critical"
    assert iam.details["last_change"].startswith("could not be read (")
    assert ("403" if backend == "gcp" else "audit_log.json") in iam.details["last_change"]
    assert {m.name: m.outcome.value for m in report.monitors}["orchestrator_iam"] == "firing"


def test_a_fix_whose_job_is_missing_says_not_found(backend: str, make_stack: Callable[..., Stack]) -> None:
    """The 4->5 stall and the missing predictions would run same-day-predictions: Cloud Scheduler has no such
    job, so neither presents it as the fix; each lists the jobs and says the job was not found."""
    s = pipeline(through=P4, predictions=False)
    s.scheduler_jobs = [j for j in jobs_at(EVENING) if not j["name"].endswith("/same-day-predictions")]
    report = run_case(make_stack, backend, Case(s, EVENING, set()))
    fixes = {f.monitor: f.fix for f in report.findings if f.monitor in ("phase_stalls", "missing_predictions")}
    assert set(fixes) == {"phase_stalls", "missing_predictions"}
    for fix in fixes.values():
        assert fix == (
            "gcloud scheduler jobs list --location=us-west2 --project=nba-props-platform  "
            "# job same-day-predictions: not found in nba-props-platform/us-west2, so it cannot be run"
        )
    assert sched("same-day-predictions", "not_found") in finding_keys(report)


def test_a_fix_whose_job_exists_runs_it(backend: str, make_stack: Callable[..., Stack]) -> None:
    report = run_case(make_stack, backend, Case(pipeline(through=P4, predictions=False), EVENING, set()))
    fixes = {f.monitor: f.fix for f in report.findings if f.monitor in ("phase_stalls", "missing_predictions")}
    assert fixes == dict.fromkeys(
        ("phase_stalls", "missing_predictions"),
        "gcloud scheduler jobs run same-day-predictions --location=us-west2 --project=nba-props-platform",
    )


def test_a_fix_whose_job_failed_its_last_attempt_says_so(backend: str, make_stack: Callable[..., Stack]) -> None:
    """A job whose target refused it (code 7) would fail again when run by hand: the fix still names it (it is the
    way to start the phase once the cause is fixed) and says why running it now is not enough."""
    s = pipeline(through=P4, predictions=False)
    s.scheduler_jobs = [
        {**j, "status": {"code": 7, "message": "PERMISSION_DENIED"}} if j["name"].endswith("/same-day-predictions") else j
        for j in jobs_at(EVENING)
    ]
    report = run_case(make_stack, backend, Case(s, EVENING, set()))
    fixes = {f.monitor: f.fix for f in report.findings if f.monitor in ("phase_stalls", "missing_predictions")}
    assert fixes == dict.fromkeys(
        ("phase_stalls", "missing_predictions"),
        "gcloud scheduler jobs run same-day-predictions --location=us-west2 --project=nba-props-platform  "
        "# job same-day-predictions: its last attempt failed (code 7): fix what refused it first (its scheduler_jobs "
        "alert), or this run fails the same way",
    )
    assert sched("same-day-predictions", "failing") in finding_keys(report)


def test_a_broken_second_hop_is_named_and_explains_the_stall(backend: str, make_stack: Callable[..., Stack]) -> None:
    """The alert names the hop; the stall of 3->4 is its effect (not the healthy orchestrator's)."""
    report = run_case(make_stack, backend, CASES["second_hop_missing_invoker"]())
    by_problem = {f.key["problem"]: f for f in report.findings}
    binding, hop_stall = by_problem["missing_invoker"], by_problem["stalled"]
    assert binding.summary.endswith(f"(second hop of {T34}: nba-phase4-trigger -> {SECOND_HOP})")
    assert (binding.details["transition"], binding.details["hop"]) == (T34, 2)
    pushed = by_problem["push_account_cannot_invoke"]
    assert (pushed.details["transition"], pushed.details["hop"]) == (T34, 2) and "second hop" in pushed.summary
    assert hop_stall.caused_by == binding.fingerprint and pushed.caused_by == binding.fingerprint
    assert f"second hop: nba-phase4-trigger -> {SECOND_HOP}" in hop_stall.details["check_first"]
    # The ordered fix: the binding on the broken hop, then wait, then (only then) phase 4's backup job.
    assert binding.fix is not None and binding.fix.startswith(f"gcloud run services add-iam-policy-binding {SECOND_HOP} ")
    assert binding.fix.endswith("gcloud scheduler jobs run same-day-phase4 --location=us-west2 --project=nba-props-platform")
    # The healthy first hop has no finding at all.
    assert not any(f.key.get("service") == "phase3-to-phase4-orchestrator" for f in report.findings)


def test_a_partial_phase_names_what_succeeded_and_what_did_not(backend: str, make_stack: Callable[..., Stack]) -> None:
    report = run_case(make_stack, backend, CASES["partial_phase3"]())
    by_problem = {f.key["problem"]: f for f in report.findings}
    partial = by_problem["incomplete"]
    assert partial.details["processors_succeeded"] == [
        "TeamOffenseGameSummaryProcessor", "UpcomingPlayerGameContextProcessor", "UpcomingTeamGameContextProcessor",
    ]
    assert partial.details["processors_only_failed"] == ["PlayerGameSummaryProcessor"]
    assert partial.since == local(DAY, "12:00")  # 36 h after 00:00 of its game date
    assert partial.summary == f"{P3} is incomplete for {YESTERDAY}: 3 of the 5 processors it needs succeeded"
    assert partial.fix is not None and "nba-phase3-analytics-processors" in partial.fix and "--project=nba-props-platform" in partial.fix
    retry = by_problem["failed"]
    assert retry.details["failed_at"] == local(DAY, "06:10").isoformat() and retry.since == local(DAY, "07:10")


# --- acting from Slack (issue 22): a signed click to slack_actions, on both backends ----------------


def _post_click(stack: Stack, monkeypatch: pytest.MonkeyPatch, *, action_id: str, fingerprint: str, action_ts: str) -> Any:
    """A signed block_actions request to a fresh slack_actions app built from the environment, as deployed."""
    import sys
    import time

    import functions_framework

    from tests.conftest import PROJECT_ROOT
    from tests.servers.fake_slack import SIGNING_SECRET, signed_click

    monkeypatch.setenv("CANARY_SLACK_SIGNING_SECRET", SIGNING_SECRET)
    if stack.backend == "local":
        monkeypatch.setenv("CANARY_LOCAL_DIR", str(stack.workdir))
    monkeypatch.setitem(sys.modules, "main", sys.modules["main"])
    client = functions_framework.create_app(target="slack_actions", source=str(PROJECT_ROOT / "main.py")).test_client()
    body, headers = signed_click(action_id=action_id, value=fingerprint, timestamp=int(time.time()), action_ts=action_ts)
    return client.post("/", data=body, headers=headers)


def test_a_signed_ack_click_on_the_cause_stops_its_repeats_on_both_backends(
    backend: str, make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    case = _demo_like_incident()
    stack = make_stack(backend)
    stack.load(case.scenario)
    first = stack.run(case.now)
    cause = next(f.fingerprint for f in first.findings if f.monitor == "orchestrator_iam")
    answer = _post_click(stack, monkeypatch, action_id="ack", fingerprint=cause, action_ts="1763770000.000100")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    later = stack.run(case.now + timedelta(hours=2))
    assert [n for n in later.notifications if n.delivered] == []
    assert {f.acknowledged_by for f in later.findings if f.monitor != "canary"} == {"slack:U0ALICE01"}
    if backend == "gcp":
        slack: FakeSlack = request.getfixturevalue("fake_slack")
        record = stack.canary.store.load(fingerprints=[cause])[cause]
        parent = slack.messages[str(record.thread_ts)]
        assert parent.edits >= 1
        buttons = [e["action_id"] for b in parent.blocks if b["type"] == "actions" for e in b["elements"]]
        assert buttons == ["unack", "silence_2h", "silence_8h", "runbook"]
        assert any("Acknowledged by <@U0ALICE01>" in t for b in parent.blocks for t in _texts(b))
        assert any("Acknowledged by <@U0ALICE01>" in m.text for m in slack.replies(str(record.thread_ts)))


def _texts(block: dict[str, Any]) -> list[str]:
    found = [block["text"]["text"]] if isinstance(block.get("text"), dict) else []
    return found + [e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)]


def test_a_click_racing_a_scheduled_run_on_firestore_loses_nothing(
    make_stack: Callable[..., Stack], monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import threading

    case = _demo_like_incident()
    stack = make_stack("gcp")
    stack.load(case.scenario)
    first = stack.run(case.now)
    cause = next(f.fingerprint for f in first.findings if f.monitor == "orchestrator_iam")
    before = stack.canary.store.load(fingerprints=[cause])[cause]
    barrier = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def scheduled() -> None:
        barrier.wait()
        outcome["run"] = stack.run(case.now + timedelta(hours=2))

    thread = threading.Thread(target=scheduled)
    thread.start()
    barrier.wait()
    answer = _post_click(stack, monkeypatch, action_id="ack", fingerprint=cause, action_ts="1763770000.000200")
    thread.join()
    assert answer.status_code == 200
    repeats = [n for n in outcome["run"].notifications if n.fingerprint == cause and n.delivered]
    assert len(repeats) <= 1  # the run read the state before or after the click: a repeat at most once
    after = stack.canary.store.load(fingerprints=[cause])[cause]
    assert after.firing and after.version == before.version + len(repeats)  # the run's record write is not lost
    assert stack.canary.store.acknowledgements(fingerprints=[cause])[cause].by == "slack:U0ALICE01"  # nor the click's
    quiet = stack.run(case.now + timedelta(hours=4))
    assert [n for n in quiet.notifications if n.delivered] == []


def test_an_incident_open_only_for_lack_of_data_is_listed_no_data_until_a_run_sees_it_again(
    backend: str, make_stack: Callable[..., Stack]
) -> None:
    """Issue 22 item 1: `state` from the records. The push counts end three hours on: their incidents stay open
    (no traffic is not health) and the records say so, written once; pushes seen again clear it."""
    from alerts.incidents import open_incidents

    stack = make_stack(backend)
    stack.load(_demo_like_incident().scenario)
    stack.run(EVENING)
    store = stack.canary.store

    def states() -> dict[str, tuple[str, datetime | None]]:
        listed = open_incidents(store.load_firing(), acknowledgements={}, silences=[], now=EVENING + timedelta(hours=6))
        return {f"{i.monitor}/{i.key['problem']}": (i.state, i.no_data_since) for i in listed}

    assert {state for state, _ in states().values()} == {"firing"}
    blind = EVENING + timedelta(hours=4)
    report = stack.run(blind)
    assert {(f.monitor, f.key["problem"]) for f in report.findings} >= {("orchestrator_iam", "missing_invoker")}
    held = {"push_delivery/pushes_failing", "push_delivery/backlog"}
    assert {name for name, (state, _) in states().items() if state == "no_data"} == held
    assert all(states()[name] == ("no_data", blind) for name in held)
    written = _update_times(stack, held)
    stack.run(blind + timedelta(minutes=30))  # still no data: nothing to write
    assert all(states()[name] == ("no_data", blind) for name in held)
    assert _update_times(stack, held) == written
    stack.load(_demo_like_incident(pushes_for=timedelta(hours=6)).scenario)  # the pushes (still failing) are seen again
    stack.run(blind + timedelta(hours=1))
    assert {state for state, _ in states().values()} == {"firing"}


def _update_times(stack: Stack, names: set[str]) -> dict[str, Any]:
    """Firestore's own update_time of each record (None on SQLite, which keeps none): a write changes it."""
    if stack.backend != "gcp":
        return {}
    from google.cloud import firestore

    store: Any = stack.canary.store
    collection = firestore.Client(project=store.project).collection(store.alerts_collection)
    found = {}
    for snapshot in collection.stream():
        data = snapshot.to_dict() or {}
        name = f"{data.get('monitor')}/{(data.get('key') or {}).get('problem')}"
        if name in names:
            found[name] = snapshot.update_time
    assert set(found) == names
    return found
