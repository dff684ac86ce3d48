"""Run the selected monitors concurrently, each with a timeout; a failure is that monitor's ERROR only."""

from __future__ import annotations

import json
import shlex
import time
import threading
from datetime import timedelta
from typing import Any, Callable

from core.commands import shell_command
from core.config import LinksConfig, Pipeline
from core.degraded import degraded
from core.model import CheckError, CheckResult, Finding, MonitorResult, Outcome
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from sources.errors import SourceError


def _timed_check(spec: MonitorSpec[Any], config: MonitorConfig, sources: Sources, ctx: CheckContext) -> MonitorResult:
    return timed_result(spec, sources, lambda: spec.check(config, sources, ctx))


def timed_result(spec: MonitorSpec[Any], sources: Sources, compute: Callable[[], CheckResult]) -> MonitorResult:
    """The MonitorResult of one check (a scheduled run's, or a replay's judge): an exception is its ERROR."""
    started = time.perf_counter()
    try:
        result = compute()
        blind = result.judged_nothing()
        if blind is not None and result.judged is not None:
            unread = len(result.judged.unread)
            raise SourceError(blind.source, f"judged no {result.judged.label}: all {unread} unread ({blind.error})")
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
        judged=result.judged, check_errors=result.check_errors,
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


CANARY_KEY_LABELS = frozenset({"monitor", "problem", "service", "game_date", "check", "setting", "record"})
"""The key labels of a "canary degraded" finding: the monitor (or settings, alert_state) it is about, and
the target it could not read (a service, a game date, a check, a setting, a record)."""


def local_retry(monitor: str) -> str:
    """The CLI command that runs one monitor again as a dry run (it posts nothing)."""
    return shell_command("python", "main.py", "run", monitors=monitor) + " --dry-run"


def retry_command(monitor: str, *, backend: str, pipeline: Pipeline, links: LinksConfig) -> str:
    """How to run one monitor again by hand on the backend the canary runs on (a dry run: it posts nothing)."""
    if backend == "gcp":
        body = json.dumps({"monitors": [monitor], "dry_run": True})
        return (
            'curl -sS -X POST -H "Authorization: Bearer $(gcloud auth print-identity-token)" '
            f"-H 'Content-Type: application/json' -d {shlex.quote(body)} {shlex.quote(links.canary_endpoint(pipeline))}"
        )
    return local_retry(monitor)


def degraded_finding(result: MonitorResult, *, retry: str | None = None) -> Finding:
    """The "canary degraded" finding for a monitor that errored: it names the monitor and the source; its
    fix is the command that runs the monitor again (`retry`, from retry_command)."""
    source = result.source or "its source"
    return degraded(
        {"monitor": result.name, "problem": "error"},
        f"Canary degraded: monitor {result.name} could not read {source}",
        {
            "monitor": result.name, "source": result.source, "error": result.error,
            "effect": f"until this clears, {result.name} neither fires nor resolves its alerts",
            "check_first": f"that the canary's service account can read {source} and that it answers (the logs below)",
        },
        retry or local_retry(result.name),
    )


def check_degraded_finding(result: MonitorResult, failed: CheckError, *, retry: str | None = None) -> Finding:
    """The "canary degraded" finding for one check of a monitor (its table or a column is missing): the
    monitor's other checks ran; this one neither fires nor resolves until it can be read."""
    source = failed.source or "the warehouse"
    return degraded(
        {"monitor": result.name, "check": failed.target, "problem": "error"},
        f"Canary degraded: {result.name} check {failed.target} could not be read",
        {"monitor": result.name, "check": failed.target, "source": failed.source, "error": failed.error},
        (
            f"Until this clears, {result.name} neither fires nor resolves {failed.target}. Check that the table "
            f"and the columns its [monitors.{result.name}] entry names exist in {source} (with the dataset prefix, "
            f"if one is set), and fix the entry or the table; then retry: {retry or local_retry(result.name)}"
        ),
    )


def unread_target_findings(result: MonitorResult, *, retry: str | None = None) -> list[Finding]:
    """One "canary degraded" finding per target a monitor could not read; its other targets were judged."""
    if result.judged is None:
        return []
    label = result.judged.label
    return [
        degraded(
            {"monitor": result.name, label: unread.target, "problem": "error"},
            f"Canary degraded: {result.name} could not read {unread.source} for {label} {unread.target}",
            {
                "monitor": result.name, label: unread.target, "source": unread.source, "error": unread.error,
                "check_first": (
                    f"until this clears, {result.name} neither fires nor resolves the alerts of {label} {unread.target} "
                    f"(its other targets are judged as usual): check that the canary's service account can read "
                    f"{unread.source} for it, then retry (the fix)"
                ),
            },
            retry or local_retry(result.name),
        )
        for unread in result.judged.unread
    ]


def store_check_command(*, backend: str, pipeline: Pipeline) -> str:
    """The command that shows whether the alert state answers, on the backend the canary runs on."""
    if backend == "gcp":
        return shell_command("gcloud", "firestore", "databases", "list", project=pipeline.project)
    return "python main.py silences"


SETTINGS_CHECK = "settings"
"""The pseudo-monitor that judges the canary's own optional settings, on every run."""


def setting_finding(name: str, problem: str) -> Finding:
    """A bad optional setting (e.g. CANARY_HEARTBEAT_URL): the run went on without it, and says so."""
    return degraded(
        {"monitor": SETTINGS_CHECK, "setting": name, "problem": "invalid_setting"},
        f"Canary degraded: setting {name} is invalid, so it is not used",
        {"setting": name, "error": problem},
        (
            f"Correct {name} (deploy.sh checks it before a deploy: ./deploy.sh --plan shows the command); "
            "monitoring goes on meanwhile, without what this setting provides."
        ),
    )
