"""Run the selected monitors concurrently, each with a timeout; a failure is that monitor's ERROR only."""

from __future__ import annotations

import time
import threading
from datetime import timedelta
from typing import Any

from core.model import CANARY_MONITOR, Finding, MonitorResult, Outcome, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from sources.errors import SourceError


def _timed_check(spec: MonitorSpec[Any], config: MonitorConfig, sources: Sources, ctx: CheckContext) -> MonitorResult:
    started = time.perf_counter()
    try:
        result = spec.check(config, sources, ctx)
    except SourceError as error:
        return MonitorResult(
            name=spec.name, outcome=Outcome.ERROR, duration_ms=_ms_since(started), error=str(error), source=error.source
        )
    except Exception as error:  # a monitor's bug or a malformed answer must not abort the run
        return MonitorResult(
            name=spec.name,
            outcome=Outcome.ERROR,
            duration_ms=_ms_since(started),
            error=f"{type(error).__name__}: {error}",
            source=_source_name(sources, spec),
        )
    return MonitorResult(
        name=spec.name, outcome=result.outcome, duration_ms=_ms_since(started), findings=result.findings,
        note=result.no_data_reason if result.no_data else None,
        game_dates=result.game_dates,
    )


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _source_name(sources: Sources, spec: MonitorSpec[Any]) -> str:
    return getattr(getattr(sources, spec.reads), "source", spec.reads)


def run_monitors(
    *,
    specs: list[MonitorSpec[Any]],
    configs: dict[str, MonitorConfig],
    sources: Sources,
    ctx: CheckContext,
    timeout: timedelta,
) -> list[MonitorResult]:
    """One MonitorResult per spec, in the order given."""
    started = time.perf_counter()
    results: dict[str, MonitorResult] = {}

    def work(spec: MonitorSpec[Any]) -> None:
        results[spec.name] = _timed_check(spec, configs[spec.name], sources, ctx)

    # Daemon threads, not a pool: a check stuck past its timeout cannot be killed, and it must not
    # keep the process (a CLI run, a function instance) waiting for it at exit.
    threads = [threading.Thread(target=work, args=(spec,), name=f"monitor-{spec.name}", daemon=True) for spec in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, timeout.total_seconds() - (time.perf_counter() - started)))
    ordered = []
    for spec in specs:
        result = results.get(spec.name)
        if result is None:
            result = MonitorResult(
                name=spec.name,
                outcome=Outcome.ERROR,
                duration_ms=_ms_since(started),
                error=f"timed out after {timeout.total_seconds():g}s",
                source=_source_name(sources, spec),
            )
        ordered.append(result)
    return ordered


MAX_FINDINGS_LISTED = 15
CANARY_KEY_LABELS = frozenset({"monitor", "problem"})
"""The key labels of a "canary degraded" finding (the monitor that errored, or alert_state)."""


def degraded_finding(result: MonitorResult) -> Finding:
    """The "canary degraded" finding for a monitor that errored: it names the monitor and the source."""
    return Finding(
        monitor=CANARY_MONITOR,
        severity=Severity.WARNING,
        key={"monitor": result.name, "problem": "error"},
        summary=f"Canary degraded: monitor {result.name} could not read {result.source or 'its source'}",
        details={"monitor": result.name, "source": result.source, "error": result.error},
        fix=(
            f"Until this clears, {result.name} neither fires nor resolves its alerts. Check that the canary's "
            f"service account can read {result.source or 'the source'} and that it answers; "
            f"run `python main.py run --monitors {result.name}` to retry."
        ),
    )


def state_unreadable_finding(*, source: str, error: str, findings: list[Finding]) -> Finding:
    """The run could not read its alert state: it cannot deduplicate, so it lists what it found instead."""
    listed = [f"{f.severity.value}: {f.summary}" for f in findings[:MAX_FINDINGS_LISTED]]
    if len(findings) > MAX_FINDINGS_LISTED:
        listed.append(f"... and {len(findings) - MAX_FINDINGS_LISTED} more (in the run report)")
    return Finding(
        monitor=CANARY_MONITOR,
        severity=Severity.CRITICAL,
        key={"monitor": "alert_state", "problem": "error"},
        summary=(
            f"Canary degraded: its alert state ({source}) is unreadable; "
            f"{len(findings)} finding(s) of this run could not be deduplicated"
        ),
        details={"source": source, "error": error, "findings_this_run": listed or ["none"]},
        fix=(
            f"Check that {source} answers and that the canary's service account may use it (roles/datastore.user). "
            "Until then no alert is deduplicated or recorded: this notice repeats on every run, with that run's "
            "findings, and the run fails (HTTP 503) so Cloud Scheduler retries it."
        ),
    )
