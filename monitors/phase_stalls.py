"""phase_stalls: a phase finished for a game date, and the next phase never started after it.

Reads only BigQuery phase_completions, the pipeline's record of what actually ran; never the
Firestore `_triggered` flag whose staleness cost seven sessions of false "orchestrator stuck" alarms.
One query covers every transition and date, so the cost is one job whatever the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import Field

from core.config import Transition
from core.model import CheckResult, Finding, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from sources.tables import PHASE_COMPLETIONS
from sources.warehouse import Row

NAME = "phase_stalls"

# Every processor's first and last success per game date; failures are counted as evidence only.
QUERY = f"""
SELECT
  game_date AS game_date,
  phase AS phase,
  processor_name AS processor_name,
  MIN(IF(status = 'success', completed_at, NULL)) AS first_success_at,
  MAX(IF(status = 'success', completed_at, NULL)) AS last_success_at,
  COUNTIF(status != 'success') AS failures
FROM {PHASE_COMPLETIONS}
WHERE game_date BETWEEN @start_date AND @end_date
  AND phase IN UNNEST(@phases)
  AND completed_at <= @now
GROUP BY game_date, phase, processor_name
"""


class Config(MonitorConfig):
    lookback_days: int = Field(default=1, ge=0, le=14)
    """Game dates checked: today and this many days before it."""


@dataclass(frozen=True)
class ProcessorRun:
    processor: str
    first_success_at: datetime | None
    last_success_at: datetime | None
    failures: int


def completion_moment(transition: Transition, runs: list[ProcessorRun]) -> datetime | None:
    """When the upstream phase became complete: its N-th distinct processor's (or last required one's) first success."""
    firsts = {r.processor: r.first_success_at for r in runs if r.first_success_at is not None}
    if transition.required_processors:
        if not all(name in firsts for name in transition.required_processors):
            return None
        return max(firsts[name] for name in transition.required_processors)
    assert transition.min_processors is not None
    ordered = sorted(firsts.values())
    if len(ordered) < transition.min_processors:
        return None
    return ordered[transition.min_processors - 1]


def judge_transition(
    transition: Transition, game_date: date, upstream: list[ProcessorRun], downstream: list[ProcessorRun], now: datetime
) -> Finding | None:
    complete_at = completion_moment(transition, upstream)
    if complete_at is None:
        return None  # a phase that is not complete is never a stall
    deadline = complete_at + transition.max_delay
    if now <= deadline:
        return None
    latest_downstream = max((r.last_success_at for r in downstream if r.last_success_at), default=None)
    if latest_downstream is not None and latest_downstream >= complete_at:
        return None
    overdue = now - deadline
    succeeded = sorted(r.processor for r in upstream if r.first_success_at is not None)
    details = {
        "transition": transition.label,
        "game_date": game_date.isoformat(),
        "upstream_complete_at": complete_at.isoformat(),
        "upstream_processors_succeeded": len(succeeded),
        "upstream_processors": succeeded,
        "max_delay_minutes": round(transition.max_delay.total_seconds() / 60),
        "overdue_minutes": round(overdue.total_seconds() / 60),
        "downstream_failed_runs": sum(r.failures for r in downstream),
        "downstream_last_success_at": latest_downstream.isoformat() if latest_downstream else None,
        "evidence": (
            f"{transition.from_phase} complete at {complete_at:%Y-%m-%d %H:%M} UTC "
            f"({len(succeeded)} processors succeeded); no {transition.to_phase} success since"
        ),
    }
    if transition.service:
        details["service"] = transition.service
        fix = (
            f"Check {transition.service}: an orchestrator_iam alert for it (a missing invoker binding "
            f"drops its Pub/Sub pushes silently), then its logs for {game_date}"
        )
    else:
        fix = f"Check why {transition.to_phase} did not start for {game_date} (its Pub/Sub trigger, its logs)"
    if transition.next_step:
        fix += f", then start it by hand: {transition.next_step}"
    return Finding(
        monitor=NAME,
        severity=Severity.CRITICAL,
        key={"transition": transition.label, "game_date": game_date.isoformat(), "problem": "stalled"},
        summary=(
            f"{transition.to_phase} has not started for {game_date}: "
            f"{round((now - complete_at).total_seconds() / 60)} min after {transition.from_phase} completed"
        ),
        details=details,
        since=deadline,
        fix=fix,
    )


def _runs(rows: list[Row]) -> dict[tuple[date, str], list[ProcessorRun]]:
    grouped: dict[tuple[date, str], list[ProcessorRun]] = {}
    for row in rows:
        grouped.setdefault((row["game_date"], row["phase"]), []).append(
            ProcessorRun(
                processor=row["processor_name"],
                first_success_at=row["first_success_at"],
                last_success_at=row["last_success_at"],
                failures=int(row["failures"] or 0),
            )
        )
    return grouped


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    end = ctx.target_date
    start = end - timedelta(days=config.lookback_days)
    phases = sorted({p for t in ctx.pipeline.transitions for p in (t.from_phase, t.to_phase)})
    rows = sources.warehouse.query(
        QUERY, {"start_date": start, "end_date": end, "phases": phases, "now": ctx.now}
    )
    judged = [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
    if not rows:
        return CheckResult(no_data=True, no_data_reason=f"no phase completions for {start}..{end}", game_dates=judged)
    runs = _runs(rows)
    findings = []
    for game_date in judged:
        for transition in ctx.pipeline.transitions:
            finding = judge_transition(
                transition,
                game_date,
                runs.get((game_date, transition.from_phase), []),
                runs.get((game_date, transition.to_phase), []),
                ctx.now,
            )
            if finding:
                findings.append(finding)
    return CheckResult(findings=findings, game_dates=judged)


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="warehouse",
    key_labels=frozenset({"transition", "game_date", "problem"}),
)
