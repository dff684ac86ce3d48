"""The command line: every command of `main.py`, one set of exit codes, bad input as one line.

main.py builds the objects (the composition root) and hands this module a `Builder`; nothing here
constructs a client.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import sys
import time
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path
from typing import Callable, NoReturn, Sequence, TextIO

from alerts.render_text import inert_text, json_line
from alerts.silences import effects_muted, new_silence, open_incidents_matched, parse_matchers
from alerts.state import StateError, StateStore, incidents_only
from core.config import CanaryConfig, ConfigError, Settings, parse_duration
from core.environment import scoped_file
from core.inputs import parse_game_date as parse_date, parse_instant
from core.local_files import LinkedFile
from core.model import RunReport, Severity
from core.secrets import scrub
from monitors.registry import MONITORS
from run.configure import apply_settings, load_all, load_config, load_settings
from run.observe import emit_log, observed_run
from run.steps import (
    Canary, new_run_id, RequestError, RunRequest, check_replay, key_labels_by_monitor, presentation, select_monitors,
)
from run.synthetic import send_test_alert
from sources.errors import SourceError

EXIT_OK = 0
"""The run completed and every due notice was delivered."""
EXIT_DELIVERY_FAILED = 1
"""A due notice was not delivered, the alert state was unreadable, or the canary failed internally."""
EXIT_BAD_INPUT = 2
"""A bad argument or configuration: nothing ran."""
EXIT_GATE_FAILED = 3
"""`run --fail-on`: every due notice was delivered, and a finding at or above that severity fired unsilenced."""

Builder = Callable[..., Canary]
"""main.build_canary: (settings, config, *, console) -> Canary."""


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
    return parse_day("--date", text)


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
    run.add_argument("--fail-on", choices=("critical", "warning"), default=None,
                     help="a gate for scripts: exit 3 when a finding at or above this severity fires and is not silenced")
    demo = commands.add_parser("demo", help="write a demo pipeline into CANARY_LOCAL_DIR and run once on it")
    demo.add_argument("--history-days", type=int, default=7, help="healthy days before the broken one (default 7)")
    demo.add_argument("--off-season-days", type=int, default=0,
                      help="the history opens with this many days without games (default 0)")
    demo.add_argument("--no-run", action="store_true", help="only write the demo data")
    demo.add_argument("--json", action="store_true", help="print the run report as one JSON object on stdout")
    silence = commands.add_parser("silence", help="mute matching first/repeat notices for a while")
    silence.add_argument("--match", action="append", required=True, metavar="LABEL=VALUE",
                         help=f"a label that must equal VALUE; repeat for more, all must match "
                              f"({', '.join(known_silence_labels())})")
    silence.add_argument("--for", dest="duration", required=True, help="how long, e.g. 30m, 4h, 2d")
    silence.add_argument("--reason", required=True)
    silence.add_argument("--author", default=None, help="who (default: $USER)")
    silences = commands.add_parser("silences", help="list the active silences")
    silences.add_argument("--json", action="store_true", help="print a JSON list of the active silences")
    unsilence = commands.add_parser("unsilence", help="end a silence early (it stays on record)")
    unsilence.add_argument("id", help="the silence's id (see `main.py silences`)")
    unsilence.add_argument("--author", default=None, help="who (default: $USER)")
    check_config = commands.add_parser("check-config", help="validate a configuration file; run nothing (exit 0 or 2)")
    check_config.add_argument("file", nargs="?", default=None, help="the file (default: the configured one)")
    replay = commands.add_parser("replay", help="what the canary would have said, tick by tick, over past game dates")
    replay.add_argument("--from", dest="first", required=True, help="first league-local date (YYYY-MM-DD), from its 00:00")
    replay.add_argument("--to", dest="last", required=True, help="last league-local date (YYYY-MM-DD), to its end")
    replay.add_argument("--every", default="30m", help="tick interval, as Cloud Scheduler fires (default 30m)")
    replay.add_argument("--monitors", type=str, help="comma-separated monitor names (default: all enabled)")
    replay.add_argument("--config", type=str, help="replay this configuration file instead of the current one")
    replay.add_argument("--json", action="store_true", help="print the replay as one JSON object on stdout")
    add_incident_commands(commands)
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
        extra = inert_text(monitor.error or monitor.note or (f"{count} finding(s)" if count else ""))
        print(f"  {inert_text(monitor.name):<22} {monitor.outcome.value:<8} {monitor.duration_ms:>8.1f} ms  {extra}".rstrip(), file=out)
    sent = sum(n.delivered for n in report.notifications)
    pending = [n for n in report.notifications if not n.delivered]
    line = f"findings: {len(report.findings)}; notifications: {sent} sent"
    if report.dry_run:
        line += f", {len(pending)} would be sent"
    else:
        failed = [n for n in pending if n.error]
        skipped = [n for n in pending if n.skipped]
        if failed:
            line += f", {len(failed)} FAILED ({inert_text(failed[0].error)})"
        if skipped:
            line += f", {len(skipped)} left to another run"
    silenced = [f for f in report.findings if f.silenced_by]
    if silenced:
        line += f"; {len(silenced)} silenced"
    acknowledged = [f for f in report.findings if f.acknowledged_by]
    if acknowledged:
        line += f"; {len(acknowledged)} acknowledged (no repeats: {', '.join(sorted({f.acknowledged_by for f in acknowledged if f.acknowledged_by}))})"
    print(line, file=out)
    if report.state_error:
        print(f"alert state unavailable: {inert_text(report.state_error)}", file=out)
    if report.dry_run and report.digest:
        print("the daily digest this run would post:\n" + report.digest, file=out)
    for notice in report.notifications:
        if notice.event is not None and (notice.delivered or notice.skipped == "dry run"):
            to = ", ".join(notice.to or []) or "nobody (no mention, no routing key)"
            print(f"escalation {notice.event} {notice.fingerprint}: {notice.why}; to {to}", file=out)
    if report.gate is not None:
        gate = report.gate
        verdict = (f"FAILED: {len(gate.fingerprints)} unsilenced finding(s) at or above {gate.fail_on.value}: "
                   f"{', '.join(gate.fingerprints)}") if gate.failed else f"passed: nothing at or above {gate.fail_on.value}"
        print(f"gate (--fail-on {gate.fail_on.value}) {verdict}", file=out)


def cli_run(
    *,
    build: Builder,
    settings: Settings,
    config: CanaryConfig,
    request: RunRequest,
    as_json: bool,
    stdout: TextIO,
    stderr: TextIO,
    explicit_now: bool = False,
) -> int:
    started = time.perf_counter()
    canary = build(settings, config, console=stderr if as_json else stdout)
    secrets = settings.secrets()
    check_replay(canary, request, explicit_now=explicit_now, backend=settings.backend)
    report, record = observed_run(canary, request, heartbeat_url=settings.heartbeat_url, secrets=secrets, started=started)
    if report.dry_run:
        print_previews(report, out=stderr if as_json else stdout)
    if as_json:
        print(json_line(scrub(report.model_dump(mode="json"), secrets)), file=stdout)
    else:
        summary = io.StringIO()  # errors in it quote sources and clients: scrubbed like every output
        print_summary(report, out=summary, zone_name=config.timezone)
        print(scrub(summary.getvalue(), secrets), end="", file=stdout)
    emit_log(record, stream=stderr)
    if report.delivery_failed:
        return EXIT_DELIVERY_FAILED
    return EXIT_GATE_FAILED if report.gate is not None and report.gate.failed else EXIT_OK


def cli(
    argv: Sequence[str] | None = None, *, build: Builder, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr
) -> int:
    try:
        args = make_parser().parse_args(argv)
        if args.command == "check-config":
            return cli_check_config(args.file, stdout=stdout)
        if args.command == "slack-manifest":
            return cli_slack_manifest(args, stdout=stdout)
        settings, config = load_all()
        if args.command == "run":
            request = RunRequest(
                run_id=new_run_id(),
                now=parse_now(args.now) if args.now else datetime.now(timezone.utc),
                monitors=parse_monitor_list(args.monitors) if args.monitors is not None else None,
                dry_run=args.dry_run,
                game_date=parse_game_date(args.date) if args.date else None,
                fail_on=Severity(args.fail_on) if args.fail_on else None,
            )
            select_monitors(config, request.monitors)  # an unknown name first: it is the operator's typo
            missing = settings.missing_local_data()
            if missing:
                raise BadInput(f"{missing}: run `main.py demo` first, or set CANARY_LOCAL_DIR")
            return cli_run(build=build, settings=settings, config=config, request=request, as_json=args.json,
                           stdout=stdout, stderr=stderr, explicit_now=args.now is not None)
        if args.command == "demo":
            return cli_demo(build=build, settings=settings, config=config, args=args, stdout=stdout, stderr=stderr)
        if args.command in ("silence", "silences", "unsilence"):
            store = build(settings, config, console=None).store
            try:
                if args.command == "silence":
                    return cli_silence(store=store, args=args, now=datetime.now(timezone.utc), stdout=stdout,
                                       config=config)
                if args.command == "unsilence":
                    return cli_unsilence(store=store, args=args, now=datetime.now(timezone.utc), stdout=stdout,
                                         zone=config.zone)
                return cli_silences(store=store, now=datetime.now(timezone.utc), stdout=stdout, as_json=args.json,
                                    zone=config.zone)
            except StateError as error:
                print(f"error: alert state: {error}", file=stderr)
                return EXIT_DELIVERY_FAILED
        if args.command in INCIDENT_COMMANDS:
            return cli_incident_command(build=build, settings=settings, config=config, args=args, stdout=stdout, stderr=stderr)
        if args.command == "replay":
            return cli_replay(build=build, settings=settings, config=config, args=args, stdout=stdout, stderr=stderr)
        if args.command == "test-alert":
            return cli_test_alert(
                canary=build(settings, config, console=stderr if args.json else stdout),
                run_id=new_run_id(),
                now=datetime.now(timezone.utc),
                as_json=args.json,
                stdout=stdout,
            )
        raise BadInput(f"unknown command {args.command!r}")
    except (BadInput, ConfigError, RequestError) as error:
        print(f"error: {error}", file=stderr)
        return EXIT_BAD_INPUT


def cli_demo(
    *, build: Builder, settings: Settings, config: CanaryConfig, args: argparse.Namespace, stdout: TextIO, stderr: TextIO
) -> int:
    from demo.pipeline import build_demo, demo_now, write_demo  # the CLI's demo only: not on a function's cold start
    from monitors.scheduler_jobs import watched_jobs

    if settings.backend != "local":
        raise BadInput("demo writes the local backend's files; unset CANARY_BACKEND or set it to local")
    if not 0 <= args.history_days <= 3650:
        raise BadInput("--history-days: give 0 to 3650")
    if not 0 <= args.off_season_days <= args.history_days:
        raise BadInput(f"--off-season-days: give 0 to --history-days ({args.history_days})")
    now = demo_now(datetime.now(timezone.utc), config.zone)
    config = with_demo_checks(config)
    pipeline = build_demo(
        now=now, zone=config.zone, services=config.pipeline.services,
        push_member=config.monitors["orchestrator_iam"].member, history_days=args.history_days,
        project=config.pipeline.project, region=config.pipeline.region, off_season_days=args.off_season_days,
        jobs=[w.job for w in watched_jobs(config.monitors["scheduler_jobs"], config.pipeline)],
    )
    note = stderr if args.json else stdout
    announce_demo_removals(settings.local_dir, environment=config.environment, out=note)
    for stale in demo_removes(config.environment):
        (settings.local_dir / stale).unlink(missing_ok=True)
    try:
        write_demo(pipeline, settings.local_dir, dataset_prefix=config.dataset_prefix, progress=demo_progress(out=note))
    except LinkedFile as error:
        raise BadInput(f"demo: {error}") from None
    print(
        f"demo pipeline written to {settings.local_dir}/ ({args.history_days} healthy days, then {pipeline.today} "
        f"broken); running at {now.astimezone(config.zone):%Y-%m-%d %H:%M} {config.timezone} "
        f"(--now {now:%Y-%m-%dT%H:%M:%SZ})\n",
        file=note,
    )
    if args.no_run:
        return EXIT_OK
    request = RunRequest(run_id=new_run_id(), now=now)
    return cli_run(build=build, settings=settings, config=config, request=request, as_json=args.json, stdout=stdout,
                   stderr=stderr)


def with_demo_checks(config: CanaryConfig) -> CanaryConfig:
    """The demo turns on the raw-table checks canary.toml ships commented out (an operator's own win)."""
    from demo.pipeline import DEMO_MONITORS

    monitors = dict(config.monitors)
    for name, table in DEMO_MONITORS.items():
        if not monitors[name].enabled:
            monitors[name] = MONITORS[name].config_model.model_validate(table)
    return config.model_copy(update={"monitors": monitors})


def cli_replay(
    *, build: Builder, settings: Settings, config: CanaryConfig, args: argparse.Namespace, stdout: TextIO, stderr: TextIO
) -> int:
    """`main.py replay`: exit 0 with the timeline (or one JSON object), 1 when a source failed, 2 for bad input."""
    from entry.timeline import print_timeline  # the replay command's own modules: not on a function's cold start
    from run.replay import ReplayRequest, replay

    if args.config is not None:
        config = apply_settings(load_config(Path(args.config)), settings)
    try:
        every = parse_duration(args.every)
    except ValueError as error:
        raise BadInput(f"--every: {error}") from None
    request = ReplayRequest(
        first=parse_day("--from", args.first),
        last=parse_day("--to", args.last),
        every=every,
        monitors=parse_monitor_list(args.monitors) if args.monitors is not None else None,
        now=datetime.now(timezone.utc),
    )
    try:
        result = replay(config, build(settings, config, console=None).sources, request,
                        progress=replay_progress(out=stderr))
    except SourceError as error:
        print(f"error: {error}", file=stderr)
        return EXIT_DELIVERY_FAILED
    if args.json:
        print(json.dumps(result.as_json()), file=stdout)
    else:
        print_timeline(result, out=stdout, zone=config.zone, repeat_after=config.alerts.repeat_after)
    return EXIT_OK


REPLAY_PROGRESS_TICKS = 2_000
"""A replay longer than this many ticks (about six weeks at 30 minutes) says how far it got, on stderr."""


def replay_progress(*, out: TextIO) -> Callable[[int, int, date], None]:
    """A line per tenth of a long replay: the day reached and the ticks done."""
    shown = [-1]

    def progress(done: int, total: int, day: date) -> None:
        if total <= REPLAY_PROGRESS_TICKS:
            return
        tenth = done * 10 // total
        if tenth > shown[0]:
            shown[0] = tenth
            print(f"replay: {day} ({done:,}/{total:,} ticks)", file=out, flush=True)

    return progress


def parse_day(flag: str, text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as error:
        raise BadInput(f"{flag}: {error}") from None


def known_silence_labels() -> list[str]:
    return sorted({"monitor", "severity"}.union(*key_labels_by_monitor().values()))


DEMO_REMOVES = ("state.sqlite3", "notifications.jsonl")
"""What the demo deletes before it writes: the local alert records and silences, the notices sent."""
DEMO_REPLACES = (
    "warehouse.duckdb", "iam_policies.json", "project_iam_policy.json", "services.json", "subscriptions.json",
    "push_metrics.json",
)
PROGRESS_EVERY_ROWS = 10_000


def demo_removes(environment: str) -> dict[str, str]:
    """The demo's own environment's state files (file name -> what it is named in DEMO_REMOVES): another
    environment's records in the same folder are not the demo's to delete."""
    return {scoped_file(name, environment=environment): name for name in DEMO_REMOVES}


def announce_demo_removals(local_dir: Path, *, environment: str, out: TextIO) -> None:
    """Say what the demo is about to delete or overwrite, before it does."""
    what = {
        "state.sqlite3": "alert records and silences",
        "notifications.jsonl": "notices sent",
        "warehouse.duckdb": "replaced by the demo's tables",
        "iam_policies.json": "replaced by the demo's policies",
        "project_iam_policy.json": "replaced by the demo's project policy",
        "services.json": "replaced by the demo's services",
        "subscriptions.json": "replaced by the demo's subscriptions",
        "push_metrics.json": "replaced by the demo's push metrics",
        "scheduler_jobs.json": "replaced by the demo's Cloud Scheduler jobs",
        "audit_log.json": "replaced by the demo's audit log",
    }
    named = {**demo_removes(environment), **{name: name for name in DEMO_REPLACES}}
    present = [name for name in named if (local_dir / name).exists()]
    if present:
        listed = "; ".join(f"{name} ({what[named[name]]})" for name in present)
        print(f"demo: removing the previous local run in {local_dir}/: {listed}", file=out, flush=True)


def demo_progress(*, out: TextIO) -> Callable[[str, int, int], None]:
    """A line per PROGRESS_EVERY_ROWS rows written, and one per table finished, for long histories."""
    shown: dict[str, int] = {}

    def progress(table: str, done: int, total: int) -> None:
        if total < PROGRESS_EVERY_ROWS:
            return
        if done == total or done - shown.get(table, 0) >= PROGRESS_EVERY_ROWS:
            shown[table] = done
            print(f"demo: writing {table}: {done:,}/{total:,} rows", file=out, flush=True)

    return progress


def league_and_utc(moment: datetime, zone: tzinfo) -> str:
    """A time as the league reads it, with UTC beside it: '2026-11-21 18:30 EST (23:30 UTC)'."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z} ({moment.astimezone(timezone.utc):%H:%M} UTC)"


def cli_silence(
    *, store: StateStore, args: argparse.Namespace, now: datetime, stdout: TextIO, config: CanaryConfig | None = None
) -> int:
    silence = new_silence(
        matchers=parse_matchers(args.match, labels_by_monitor=key_labels_by_monitor(),
                                known_values=known_label_values(config) if config is not None else None),
        duration=args.duration,
        reason=args.reason,
        author=args.author or getpass.getuser(),
        now=now,
    )
    zone = config.zone if config is not None else timezone.utc
    store.add_silence(silence)
    labels = ", ".join(f"{inert_text(k)}={inert_text(v)}" for k, v in silence.matchers.items())
    print(
        f"silence {silence.id} created in {store.location}: {labels} until {league_and_utc(silence.expires_at, zone)} "
        f"({inert_text(silence.reason)})",
        file=stdout,
    )
    try:
        firing = list(incidents_only(store.load_firing()).values())
        matched = open_incidents_matched(silence, firing, now=now)
        effects = effects_muted(matched, firing)
    except StateError as error:
        print(f"(cannot list the open incidents it mutes: {inert_text(error)})", file=stdout)
        return EXIT_OK
    if matched:
        also = f", and the repeats of {len(effects)} effect(s) in their threads" if effects else ""
        print(f"it mutes {len(matched)} open incident(s) now{also}:", file=stdout)
        listing = [(state, "") for state in matched] + [(state, "effect, in its cause's thread: ") for state in effects]
        for state, mark in listing:
            where = ", ".join(f"{inert_text(k)}={inert_text(v)}" for k, v in sorted(state.key.items()))
            print(f"  {mark}{state.severity.value} {inert_text(state.monitor)} {where}: {inert_text(state.summary)}",
                  file=stdout)
    else:
        print("it matches no open incident now (it will mute new ones that match)", file=stdout)
    return EXIT_OK


def known_label_values(config: CanaryConfig) -> dict[str, list[str]]:
    """The values a silence label can take that [pipeline] states: its services and its transitions."""
    services = list(config.pipeline.services)
    for monitor in config.monitors.values():
        services += [name for name in getattr(monitor, "services", None) or [] if name not in services]
    return {"service": services, "transition": [t.label for t in config.pipeline.transitions]}


def cli_unsilence(
    *, store: StateStore, args: argparse.Namespace, now: datetime, stdout: TextIO, zone: tzinfo = timezone.utc
) -> int:
    ended = store.end_silence(args.id, now=now, by=args.author or getpass.getuser())
    if ended is None:
        raise BadInput(f"unsilence: no silence {inert_text(args.id)!r} in {store.location} (see `main.py silences`)")
    if ended.ended_by is None or ended.expires_at < now:
        print(f"silence {ended.id} had already ended at {league_and_utc(ended.expires_at, zone)}; nothing changed",
              file=stdout)
    else:
        print(f"silence {ended.id} ended at {league_and_utc(ended.expires_at, zone)} by {inert_text(ended.ended_by)} "
              f"(kept on record in {store.location})", file=stdout)
    return EXIT_OK


def cli_silences(
    *, store: StateStore, now: datetime, stdout: TextIO, as_json: bool = False, zone: tzinfo = timezone.utc
) -> int:
    active = store.silences(now=now)
    if as_json:
        fields = {"id", "matchers", "author", "reason", "created_at", "expires_at"}
        print(json_line([s.model_dump(mode="json", include=fields) for s in active]), file=stdout)
        return EXIT_OK
    if not active:
        print(f"no active silences in {store.location}", file=stdout)
    for s in active:
        labels = ", ".join(f"{inert_text(k)}={inert_text(v)}" for k, v in s.matchers.items())
        print(f"{inert_text(s.id)}  {labels}  until {league_and_utc(s.expires_at, zone)}  by {inert_text(s.author)}: "
              f"{inert_text(s.reason)}", file=stdout)
    return EXIT_OK


def cli_check_config(path: str | None, *, stdout: TextIO) -> int:
    """`main.py check-config [FILE]`: the file validated as a run would load it, and this environment's
    optional settings, which a run would only report (ConfigError: exit 2)."""
    settings = load_settings()
    target = Path(path) if path else settings.config
    config = apply_settings(load_config(target), settings)  # CANARY_ENVIRONMENT's rules (its own channel) too
    problems = settings.problems()
    if problems:
        raise ConfigError("environment: " + "; ".join(f"{name}: {why}" for name, why in sorted(problems.items())))
    enabled = [name for name, monitor in config.monitors.items() if monitor.enabled]
    print(
        f"{target}: valid ({len(config.pipeline.phases)} phases, {len(config.pipeline.transitions)} transitions, "
        f"{len(config.pipeline.services)} services; monitors enabled: {', '.join(enabled) or 'none'}; "
        f"environment {config.environment})",
        file=stdout,
    )
    return EXIT_OK


def print_previews(report: RunReport, *, out: TextIO) -> None:
    """A dry run's notices, rendered as the console shows real ones (nothing was sent)."""
    for notice in report.notifications:
        if notice.text:
            print(f"[dry run: not sent]\n{notice.text}\n", file=out)


def cli_test_alert(*, canary: Canary, run_id: str, now: datetime, as_json: bool, stdout: TextIO) -> int:
    """`main.py test-alert`: exit 0 when the alert and its resolution were delivered, 1 otherwise."""
    result = send_test_alert(canary, run_id=run_id, now=now)
    if as_json:
        print(json.dumps(result), file=stdout)
    elif result["delivered"]:
        print(
            f"test alert {result['fingerprint']} sent and resolved"
            f" (channel {result['channel']}, thread {result['thread_ts']})",
            file=stdout,
        )
    else:
        print(f"test alert FAILED: {result['error']}", file=stdout)
    return EXIT_OK if result["delivered"] else EXIT_DELIVERY_FAILED


# --- incidents and acknowledgements (issue 22) --------------------------------------------------

INCIDENT_COMMANDS = ("incidents", "ack", "unack")


def add_incident_commands(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    incidents = commands.add_parser("incidents", help="list the open incidents, grouped by cause")
    incidents.add_argument("--json", action="store_true", help='print {"incidents": [...]} on stdout')
    ack = commands.add_parser("ack", help="acknowledge an open incident: no repeats until it resolves, rises, or --for ends")
    ack.add_argument("fingerprint", help="the incident's fingerprint, or a unique prefix of it (see `main.py incidents`)")
    ack.add_argument("--for", dest="duration", default=None, help="how long, e.g. 4h (default: until it resolves)")
    ack.add_argument("--by", default=None, help="who (default: $USER)")
    unack = commands.add_parser("unack", help="end an acknowledgement: repeats resume")
    unack.add_argument("fingerprint", help="the incident's fingerprint, or a unique prefix of it")
    unack.add_argument("--by", default=None, help="who (default: $USER)")
    manifest = commands.add_parser("slack-manifest", help="print the Slack app manifest (JSON) for the buttons")
    manifest.add_argument("--url", required=True, help="the slack_actions function's HTTPS URL (interactivity request URL)")
    manifest.add_argument("--name", default="pipeline-canary", help="the app's name in Slack (default pipeline-canary)")


def cli_incident_command(
    *, build: Builder, settings: Settings, config: CanaryConfig, args: argparse.Namespace, stdout: TextIO, stderr: TextIO
) -> int:
    from alerts import acted as acting
    from alerts.acks import find_incident
    from alerts.incidents import incidents_json, incidents_text, open_incidents
    from alerts.message import when

    canary = build(settings, config, console=None)
    store, now = canary.store, datetime.now(timezone.utc)
    try:
        firing = store.load_firing()
        if args.command == "incidents":
            listed = open_incidents(
                firing, acknowledgements=store.acknowledgements(fingerprints=firing), silences=store.silences(now=now), now=now,
            )
            if args.json:
                print(json.dumps(incidents_json(listed)), file=stdout)
            else:
                print(f"open incidents in {store.location} at {when(now, config.zone)}:", file=stdout)
                print("\n".join(incidents_text(listed, zone=config.zone)), file=stdout)
            return EXIT_OK
        state = find_incident(args.fingerprint, incidents_only(firing))
        by = args.by or getpass.getuser()
        if args.command == "ack":
            outcome = acting.acknowledge(store, state=state, by=by, now=now, duration=args.duration, zone=config.zone)
        else:
            outcome = acting.unacknowledge(store, state=state, by=by, now=now)
    except StateError as error:
        print(f"error: alert state: {error}", file=stderr)
        return EXIT_DELIVERY_FAILED
    if outcome.acted is None:
        print(outcome.said, file=stdout)
        return EXIT_OK
    print(f"{state.fingerprint} ({state.monitor}: {state.summary}): {outcome.acted.line(outcome.acted.by, config.zone)}",
          file=stdout)
    failed = acting.announce(canary.notifier, store, state=state, acted=outcome.acted, now=now, zone=config.zone,
                             links=presentation(config).links, group_after=config.alerts.group_after)
    if failed:
        print(f"(recorded in {store.location}; not shown on the incident's message: {failed})", file=stdout)
    return EXIT_OK


def cli_slack_manifest(args: argparse.Namespace, *, stdout: TextIO) -> int:
    from entry.slack_actions import slack_manifest

    print(json.dumps(slack_manifest(url=args.url, name=args.name), indent=2), file=stdout)
    return EXIT_OK
