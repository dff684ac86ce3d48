"""pipeline-canary entry points: the CLI and the HTTP Cloud Function; the one place objects are built.

Nothing heavy is imported here at module load: the Google and Slack client libraries are imported
when the first run of an instance builds its sources, so a cold start pays only for what runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from datetime import date, datetime, timezone
from typing import Any, NoReturn, Sequence, TextIO

import functions_framework

from canary.config import CanaryConfig, ConfigError, Settings, apply_settings, load_config, load_settings
from canary.inputs import parse_game_date as parse_date, parse_instant
from canary.model import RunReport
from canary.run import Canary, RequestError, RunRequest, execute

EXIT_OK, EXIT_DELIVERY_FAILED, EXIT_BAD_INPUT = 0, 1, 2


# --- building objects (the composition root) -------------------------------------------------


def build_canary(settings: Settings, config: CanaryConfig, *, console: TextIO | None) -> Canary:
    from monitors.base import Sources

    if settings.backend == "local":
        from alerts.local_notifier import LocalNotifier
        from alerts.sqlite_state import SqliteStateStore
        from sources.duckdb_warehouse import DuckDbWarehouse
        from sources.iam_file import IamPolicyFile

        local = settings.local_dir
        return Canary(
            config=config,
            sources=Sources(
                warehouse=DuckDbWarehouse(path=local / "warehouse.duckdb"),
                iam=IamPolicyFile(path=local / "iam_policies.json"),
            ),
            store=SqliteStateStore(path=local / "state.sqlite3"),
            notifier=LocalNotifier(path=local / "notifications.jsonl", console=console),
        )
    from alerts.firestore_state import FirestoreStateStore
    from alerts.slack import SlackNotifier
    from sources.bigquery_warehouse import BigQueryWarehouse
    from sources.cloud_run_iam import CloudRunIamPolicies

    timeout = config.monitor_timeout.total_seconds()
    return Canary(
        config=config,
        sources=Sources(
            warehouse=BigQueryWarehouse(project=settings.gcp_project, endpoint=settings.bigquery_endpoint, timeout_seconds=timeout),
            iam=CloudRunIamPolicies(endpoint=settings.run_endpoint, timeout_seconds=timeout),
        ),
        store=FirestoreStateStore(project=settings.gcp_project, config=config.firestore),
        notifier=SlackNotifier(
            token=settings.slack_bot_token,
            base_url=settings.slack_base_url,
            channel_for=config.slack.channel_for,
        ),
    )


def load_all() -> tuple[Settings, CanaryConfig]:
    settings = load_settings()
    return settings, apply_settings(load_config(settings.config), settings)


# --- one run ----------------------------------------------------------------------------------


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def run_log_record(report: RunReport, *, duration_ms: float) -> dict[str, Any]:
    """The one structured log line per run (Cloud Logging reads `severity` and `message`)."""
    failed = [n for n in report.notifications if n.error]
    errored = [m.name for m in report.monitors if m.outcome.value == "error"]
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
    print(json.dumps(record, separators=(",", ":"), default=str), file=stream, flush=True)


# --- the CLI ----------------------------------------------------------------------------------


class BadInput(Exception):
    """A CLI argument that cannot be used; exits 2 with this one line."""


class CliParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(f"{self.prog}: {message}")


def parse_now(text: str) -> datetime:
    try:
        return parse_instant(text)
    except ValueError as error:
        raise BadInput(f"--now: {error}") from None


def parse_game_date(text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as error:
        raise BadInput(f"--date: {error}") from None


def parse_monitor_list(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise BadInput("--monitors: give at least one monitor name")
    return names


def make_parser() -> CliParser:
    parser = CliParser(prog="main.py", description="pipeline-canary: checks the NBA props pipeline and alerts on Slack.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=CliParser)
    run = commands.add_parser("run", help="run the monitors once and send what is due")
    run.add_argument("--monitors", type=str, help="comma-separated monitor names (default: all enabled)")
    run.add_argument("--now", type=str, help="the run's clock, ISO 8601 with offset (default: the real time)")
    run.add_argument("--date", type=str, help="check this league-local game date instead of today")
    run.add_argument("--dry-run", action="store_true", help="evaluate and render; send nothing, write no state")
    run.add_argument("--json", action="store_true", help="print the run report as one JSON object on stdout")
    demo = commands.add_parser("demo", help="write a demo pipeline into CANARY_LOCAL_DIR and run once on it")
    demo.add_argument("--history-days", type=int, default=7, help="healthy days before the broken one (default 7)")
    demo.add_argument("--no-run", action="store_true", help="only write the demo data")
    demo.add_argument("--json", action="store_true", help="print the run report as one JSON object on stdout")
    silence = commands.add_parser("silence", help="mute matching first/repeat notices for a while")
    silence.add_argument("--match", action="append", required=True, metavar="LABEL=VALUE",
                         help="a label that must equal (monitor, service, transition, game_date, problem...)")
    silence.add_argument("--for", dest="duration", required=True, help="how long, e.g. 30m, 4h, 2d")
    silence.add_argument("--reason", required=True)
    silence.add_argument("--author", default=None, help="who (default: $USER)")
    commands.add_parser("silences", help="list the active silences")
    test_alert = commands.add_parser("test-alert", help="send a marked synthetic alert through the real path, then resolve it")
    test_alert.add_argument("--json", action="store_true")
    return parser


def print_summary(report: RunReport, *, out: TextIO, zone_name: str) -> None:
    print(
        f"pipeline-canary run {report.run_id}: now {report.now:%Y-%m-%d %H:%M} UTC, "
        f"today {report.today} ({zone_name}){' [dry run]' if report.dry_run else ''}",
        file=out,
    )
    for monitor in report.monitors:
        count = sum(1 for f in report.findings if f.monitor == monitor.name)
        extra = monitor.error or monitor.note or (f"{count} finding(s)" if count else "")
        print(f"  {monitor.name:<22} {monitor.outcome.value:<8} {monitor.duration_ms:>8.1f} ms  {extra}".rstrip(), file=out)
    sent = sum(n.delivered for n in report.notifications)
    pending = [n for n in report.notifications if not n.delivered]
    line = f"findings: {len(report.findings)}; notifications: {sent} sent"
    if report.dry_run:
        line += f", {len(pending)} would be sent"
    else:
        failed = [n for n in pending if n.error]
        skipped = [n for n in pending if n.skipped]
        if failed:
            line += f", {len(failed)} FAILED ({failed[0].error})"
        if skipped:
            line += f", {len(skipped)} left to another run"
    silenced = [f for f in report.findings if f.silenced_by]
    if silenced:
        line += f"; {len(silenced)} silenced"
    print(line, file=out)
    if report.state_error:
        print(f"alert state unavailable: {report.state_error}", file=out)


def cli_run(
    *,
    settings: Settings,
    config: CanaryConfig,
    request: RunRequest,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    started = time.perf_counter()
    canary = build_canary(settings, config, console=stderr if as_json else stdout)
    from canary.heartbeat import Heartbeat, run_ok

    heartbeat = Heartbeat(None if request.dry_run else settings.heartbeat_url)  # best effort, never fails the run
    heartbeat.start()
    report = execute(canary, request)
    heartbeat.finish(ok=run_ok(report))
    if as_json:
        emit_log(run_log_record(report, duration_ms=(time.perf_counter() - started) * 1000), stream=stderr)
        print(json.dumps(report.model_dump(mode="json"), indent=None), file=stdout)
    else:
        print_summary(report, out=stdout, zone_name=config.timezone)
    return EXIT_DELIVERY_FAILED if report.delivery_failed else EXIT_OK


def cli(argv: Sequence[str] | None = None, *, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    try:
        args = make_parser().parse_args(argv)
        settings, config = load_all()
        if args.command == "run":
            request = RunRequest(
                run_id=new_run_id(),
                now=parse_now(args.now) if args.now else datetime.now(timezone.utc),
                monitors=parse_monitor_list(args.monitors) if args.monitors is not None else None,
                dry_run=args.dry_run,
                game_date=parse_game_date(args.date) if args.date else None,
            )
            return cli_run(settings=settings, config=config, request=request, as_json=args.json, stdout=stdout, stderr=stderr)
        if args.command == "demo":
            return cli_demo(settings=settings, config=config, args=args, stdout=stdout, stderr=stderr)
        if args.command in ("silence", "silences"):
            from alerts.state import StateError
            from canary.silences import cli_silence, cli_silences

            store = build_canary(settings, config, console=None).store
            try:
                if args.command == "silence":
                    return cli_silence(store=store, args=args, now=datetime.now(timezone.utc), stdout=stdout)
                return cli_silences(store=store, now=datetime.now(timezone.utc), stdout=stdout)
            except StateError as error:
                print(f"error: alert state: {error}", file=stderr)
                return EXIT_DELIVERY_FAILED
        if args.command == "test-alert":
            from alerts.test_alert import cli_test_alert

            return cli_test_alert(
                canary=build_canary(settings, config, console=stderr if args.json else stdout),
                run_id=new_run_id(),
                now=datetime.now(timezone.utc),
                as_json=args.json,
                stdout=stdout,
            )
        raise BadInput(f"unknown command {args.command!r}")
    except (BadInput, ConfigError, RequestError) as error:
        print(f"error: {error}", file=stderr)
        return EXIT_BAD_INPUT


def cli_demo(*, settings: Settings, config: CanaryConfig, args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from canary.demo import build_demo, demo_now, write_demo

    if settings.backend != "local":
        raise BadInput("demo writes the local backend's files; unset CANARY_BACKEND or set it to local")
    if not 0 <= args.history_days <= 3650:
        raise BadInput("--history-days: give 0 to 3650")
    now = demo_now(datetime.now(timezone.utc), config.zone)
    pipeline = build_demo(now=now, zone=config.zone, history_days=args.history_days)
    for stale in ("state.sqlite3", "notifications.jsonl"):
        (settings.local_dir / stale).unlink(missing_ok=True)
    write_demo(pipeline, settings.local_dir)
    note = stderr if args.json else stdout
    print(
        f"demo pipeline written to {settings.local_dir}/ ({args.history_days} healthy days, then {pipeline.today} "
        f"broken); running at {now.astimezone(config.zone):%Y-%m-%d %H:%M} {config.timezone} "
        f"(--now {now:%Y-%m-%dT%H:%M:%SZ})\n",
        file=note,
    )
    if args.no_run:
        return EXIT_OK
    request = RunRequest(run_id=new_run_id(), now=now)
    return cli_run(settings=settings, config=config, request=request, as_json=args.json, stdout=stdout, stderr=stderr)


# --- the HTTP function (Cloud Functions gen2) --------------------------------------------------
# Declared at cold start, built on the first request of an instance: importing this module reads no
# network and builds no client, and every later request of the instance reuses the same objects.
_instance_lock = threading.Lock()
_instance: Any = None


def http_instance() -> Any:
    global _instance
    from canary.http_entry import Instance

    with _instance_lock:
        if _instance is None:
            settings, config = load_all()
            _instance = Instance(settings=settings, config=config, canary=build_canary(settings, config, console=None))
        return _instance


@functions_framework.http
def run_canary(request: Any) -> Any:
    """Cloud Scheduler (every 30 minutes) and people: a run, /health, or action=test_alert; JSON back."""
    from canary.http_entry import handle

    return handle(
        request, instance=http_instance, now=datetime.now(timezone.utc), run_id=new_run_id(),
        log_record=run_log_record, emit=emit_log,
    )


def main() -> NoReturn:
    try:
        code = cli()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # The reader went away (`| head`): the run is done; don't let interpreter exit complain about it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_DELIVERY_FAILED
    except Exception as error:  # last resort: one line, never a traceback (nor a secret)
        print(f"error: internal: {type(error).__name__}: {error}", file=sys.stderr)
        code = EXIT_DELIVERY_FAILED
    sys.exit(code)


if __name__ == "__main__":
    main()
