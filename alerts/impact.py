"""A parent's first line: the impact and the time left (pure: the slate is read once per run, at the edge).

When an incident's chain reaches the predictions phase (the finding, or one it explains, is about tonight's
predictions, or its service or stall starts a phase at or before predictions), its parent opens with what
it costs tonight: "no predictions for tonight's 8 games; first tip-off 19:00 EST, in 30 min".
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Sequence

from alerts.causes import PREDICTIONS, STALLS, _service_problem
from alerts.digest import Slate
from alerts.message import humanize
from core.config import Pipeline
from core.league_time import clock
from core.model import Decision, Finding, Reason


def _reaches_predictions(pipeline: Pipeline, finding: Finding, tonight: date) -> bool:
    """Whether this finding, left alone, stops tonight's predictions (by the pipeline's topology)."""
    at_or_before = pipeline.position(pipeline.predictions_phase)
    if finding.monitor == PREDICTIONS:
        return finding.key.get("game_date") == tonight.isoformat()
    if finding.monitor == STALLS:
        transition = next((t for t in pipeline.transitions if t.label == finding.key.get("transition")), None)
        return (transition is not None and finding.key.get("game_date") == tonight.isoformat()
                and pipeline.position(transition.to_phase) <= at_or_before)
    service = _service_problem(finding)
    return service is not None and any(
        pipeline.position(t.to_phase) <= at_or_before for t in pipeline.transitions_started_by(service)
    )


def reaches_predictions(pipeline: Pipeline, decision: Decision, tonight: date) -> bool:
    """A parent (not a reply in its cause's thread, not a resolution) whose chain reaches tonight's predictions."""
    if decision.reason is Reason.RESOLVED or decision.in_cause_thread or decision.finding is None:
        return False
    return any(_reaches_predictions(pipeline, f, tonight) for f in (decision.finding, *decision.affects))


def impact_line(decision: Decision, *, slate: Slate, now: datetime, zone: tzinfo, tonight: date) -> str | None:
    """'no predictions for tonight's 8 games; first tip-off 19:00 EST, in 30 min' (None: no games tonight)."""
    if slate.games == 0:
        return None
    chain: Sequence[Finding] = [f for f in (decision.finding, *decision.affects) if f is not None]
    predictions = [f for f in chain if f.monitor == PREDICTIONS and f.key.get("game_date") == tonight.isoformat()]
    problems = {f.key.get("problem") for f in predictions}
    games = f"tonight's {slate.games} games" if slate.games != 1 else "tonight's game"
    if "none" in problems:
        what = f"no predictions for {games}"
    elif predictions:
        what = f"predictions missing for some of {games}"
    else:
        what = f"predictions for {games} at risk"
    if slate.first_start is None:
        return what
    left = slate.first_start - now
    timing = f"in {humanize(left)}" if left.total_seconds() >= 0 else f"started {humanize(-left)} ago"
    return f"{what}; first tip-off {clock(slate.first_start, zone)}, {timing}"
