"""What wraps every run, whoever started it: the heartbeat pings and the one structured log line."""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from alerts.render_text import json_line
from core.model import Outcome, RunReport
from core.secrets import scrub
from run.heartbeat import Heartbeat, run_ok
from run.steps import Canary, RunRequest, execute


def run_log_record(report: RunReport, *, duration_ms: float) -> dict[str, Any]:
    """The one structured log line per run (Cloud Logging reads `severity` and `message`)."""
    failed = [n for n in report.notifications if n.error]
    errored = [m.name for m in report.monitors if m.outcome is Outcome.ERROR]
    severity = "ERROR" if report.delivery_failed else ("WARNING" if errored else "INFO")
    return {
        "severity": severity,
        "message": "pipeline-canary run completed",
        "event": "canary_run",
        "run_id": report.run_id,
        "now": report.now.isoformat(),
        "today": report.today.isoformat(),
        "dry_run": report.dry_run,
        "outcomes": {m.name: m.outcome.value for m in report.monitors},
        "errored_monitors": errored,
        "findings": len(report.findings),
        "notifications_due": len(report.notifications),
        "notifications_delivered": sum(n.delivered for n in report.notifications),
        "notifications_failed": len(failed),
        "state_error": report.state_error,
        "duration_ms": round(duration_ms, 1),
    }


def emit_log(record: dict[str, Any], *, stream: TextIO) -> None:
    print(json_line(record), file=stream, flush=True)


def observed_run(
    canary: Canary, request: RunRequest, *, heartbeat_url: str | None, secrets: list[str], started: float,
) -> tuple[RunReport, dict[str, Any]]:
    """Execute one run between heartbeat pings; return its report and its (scrubbed) log record.

    A dry run (a person checking by hand) says nothing about the schedule, so it does not ping. A run
    that crashes pings /fail before the exception goes on to the entry point.
    """
    heartbeat = Heartbeat(None if request.dry_run else heartbeat_url)
    pings = {"start": heartbeat.start()}
    try:
        report = execute(canary, request)
    except Exception:
        heartbeat.finish(ok=False, body=f"run {request.run_id}: internal error")
        raise
    record = run_log_record(report, duration_ms=(time.perf_counter() - started) * 1000)
    healthy = run_ok(report)
    pings["success" if healthy else "fail"] = heartbeat.finish(
        ok=healthy, body=json.dumps(scrub(record, secrets), default=str)
    )
    if heartbeat.enabled or heartbeat.problem:
        record["heartbeat"] = pings
    return report, scrub(record, secrets)
