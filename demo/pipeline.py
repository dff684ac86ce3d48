"""A generated demo pipeline: realistic healthy days, then a today that the seeds' incident broke.

The story the demo tells: a redeploy dropped roles/run.invoker from phase4-to-phase5-orchestrator
(the seeds' outage), so today phase 5 never started after phase 4 completed, and tonight's games have
no predictions. The canary should raise exactly those three alerts, and stay quiet about the traps
that fooled the old monitors: phase 3 running several times a day, a failed processor row that was
retried, the removed phase2-to-phase3 orchestrator, and a postponed game.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from sources.tables import PHASE_COMPLETIONS, PREDICTIONS, SCHEDULE, write_duckdb

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
# League-local start of each phase's work on a game date (hour, minute).
PHASE_START_LOCAL = {
    "phase_2_raw": time(6, 0),
    "phase_3_analytics": time(8, 0),
    "phase_4_precompute": time(10, 0),
    "phase_5_predictions": time(11, 30),
    "phase_6_publishing": time(12, 30),
}
SYSTEMS = ("catboost_v9", "ensemble_v1")
BROKEN_SERVICE = "phase4-to-phase5-orchestrator"
"""The service whose invoker binding today's redeploy dropped (the seeds' outage)."""
DEMO_LOCAL_TIME = time(18, 30)


@dataclass
class DemoPipeline:
    now: datetime
    today: date
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {t: [] for t in (PHASE_COMPLETIONS, SCHEDULE, PREDICTIONS)})
    policies: dict[str, Any] = field(default_factory=dict)


def demo_now(real_now: datetime, zone: ZoneInfo) -> datetime:
    """The latest 18:30 league-local at or before `real_now`: evening of a game day, predictions due."""
    local = real_now.astimezone(zone)
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


def build_demo(
    *, now: datetime, zone: ZoneInfo, services: list[str], push_member: str, history_days: int = 7, seed: int = 7
) -> DemoPipeline:
    """`history_days` healthy days, then today broken; an IAM policy for each of `services` (from [pipeline])."""
    rng = random.Random(seed)
    today = now.astimezone(zone).date()
    pipeline = DemoPipeline(now=now, today=today)
    for back in range(history_days, 0, -1):
        _game_day(pipeline, today - timedelta(days=back), zone, rng, broken=False)
    _game_day(pipeline, today, zone, rng, broken=True)
    pipeline.policies = {
        name: invoker_policy() if name == BROKEN_SERVICE else invoker_policy(push_member) for name in services
    }
    return pipeline


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
    # On the broken day, phase 5 never starts: its orchestrator cannot be invoked.
    ran = phases[: phases.index("phase_5_predictions")] if broken else phases
    for phase in ran:
        _phase_rows(pipeline, phase, day, zone, rng)
    if not broken:
        _predictions(pipeline, day, games, zone, rng)


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
    pipeline: DemoPipeline, local_dir: Path, *, progress: Callable[[str, int, int], None] | None = None
) -> None:
    """`progress(table, rows written, rows of the table)` after each chunk: a long history takes minutes."""
    local_dir.mkdir(parents=True, exist_ok=True)
    write_duckdb(local_dir / "warehouse.duckdb", pipeline.rows, progress=progress)
    (local_dir / "iam_policies.json").write_text(json.dumps(pipeline.policies, indent=2) + "\n", encoding="utf-8")
