"""The two backends a test can run the canary on, built the way production builds them.

- local: main.build_canary with CANARY_BACKEND=local (DuckDB file, IAM JSON file, SQLite, JSONL notifier).
- gcp: the production source adapters over real HTTP to local stand-ins: BigQueryWarehouse ->
  bqemulator (CANARY_BIGQUERY_ENDPOINT), CloudRunIamPolicies -> the Cloud Run fake
  (CANARY_RUN_ENDPOINT, CANARY_RESOURCE_MANAGER_ENDPOINT), GcpPushChain -> the Pub/Sub emulator
  (PUBSUB_EMULATOR_HOST) and the gRPC Monitoring stand-in (CANARY_MONITORING_ENDPOINT). Alert state and delivery stay SQLite + JSONL until the Firestore store and
  the Slack notifier land; then this variant switches to main.build_canary(backend=gcp).

A Stack keeps its state store across runs, so a test can run twice and see what the second run sends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from core.config import DEFAULT_CONFIG_PATH, CanaryConfig, Pipeline, Settings
from run.configure import load_config
from core.model import RunReport
from run.steps import Canary, RunRequest, execute
from tests.scenario import Scenario

BACKENDS = ("local", "gcp")


def default_config(**overrides: Any) -> CanaryConfig:
    """canary.toml's production values; `monitors={name: {...}}` replaces a monitor's table and
    `pipeline={key: value}` keys of [pipeline]."""
    config = load_config(DEFAULT_CONFIG_PATH)
    # The alert scenarios count alerts: the daily digest is tested on its own (tests/run/test_digest.py).
    overrides.setdefault("digest", config.digest.model_copy(update={"enabled": False}))
    pipeline_keys = overrides.pop("pipeline", None)
    if pipeline_keys:
        overrides["pipeline"] = Pipeline.model_validate({**config.pipeline.model_dump(by_alias=True), **pipeline_keys})
    monitor_tables = overrides.pop("monitors", None)
    if monitor_tables:
        from monitors.registry import MONITORS

        monitors = dict(config.monitors)
        for name, table in monitor_tables.items():
            monitors[name] = MONITORS[name].config_model.model_validate(table)
        overrides["monitors"] = monitors
    if "monitor_timeout" in overrides and not isinstance(overrides["monitor_timeout"], timedelta):
        overrides["monitor_timeout"] = timedelta(seconds=float(overrides["monitor_timeout"]))
    return config.model_copy(update=overrides)


@dataclass
class Stack:
    backend: str
    workdir: Path
    config: CanaryConfig
    canary: Canary
    load: Callable[[Scenario], None]
    runs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def run(
        self,
        now: datetime,
        *,
        monitors: tuple[str, ...] | None = None,
        game_date: date | None = None,
        dry_run: bool = False,
    ) -> RunReport:
        self.runs += 1
        request = RunRequest(
            run_id=f"{self.backend}-run-{self.runs}", now=now, monitors=monitors, dry_run=dry_run, game_date=game_date
        )
        return execute(self.canary, request)

    @property
    def notifications_file(self) -> Path:
        return self.workdir / "notifications.jsonl"


def local_stack(workdir: Path, config: CanaryConfig | None = None) -> Stack:
    import main

    config = config or default_config()
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(backend="local", local_dir=workdir)
    canary = main.build_canary(settings, config, console=None)
    return Stack(
        backend="local", workdir=workdir, config=config, canary=canary,
        load=lambda s: s.write_local(workdir, dataset_prefix=config.dataset_prefix),
    )


def gcp_stack(
    workdir: Path,
    *,
    bigquery_endpoint: str,
    run_endpoint: str,
    load_warehouse: Callable[[str, Scenario], None],
    set_policies: Callable[[dict[str, Any]], None],
    project: str,
    monitoring_endpoint: str,
    load_push: Callable[[Scenario], None],
    config: CanaryConfig | None = None,
    slack_base_url: str | None = None,
    slack_timeout_seconds: int = 10,
    slack_retries: int = 3,
) -> Stack:
    """The production source adapters over real HTTP; `project` is this test's BigQuery project.

    With `slack_base_url` notices go through the production SlackNotifier (slack_sdk WebClient) to
    that server; without it, to the JSONL notifier.
    """
    from alerts.local_notifier import LocalNotifier
    from alerts.sqlite_state import SqliteStateStore
    from monitors.base import Sources
    from sources.bigquery_warehouse import BigQueryWarehouse
    from sources.cloud_run_iam import CloudRunIamPolicies
    from sources.audit_files import AuditLogFile
    from sources.gcp_push import GcpPushChain
    from sources.scheduler_files import SchedulerJobsFile

    config = config or default_config()
    workdir.mkdir(parents=True, exist_ok=True)
    timeout = config.monitor_timeout.total_seconds()
    canary = Canary(
        config=config,
        sources=Sources(
            warehouse=BigQueryWarehouse(
                project=project, endpoint=bigquery_endpoint, timeout_seconds=timeout, dataset_prefix=config.dataset_prefix
            ),
            iam=CloudRunIamPolicies(endpoint=run_endpoint, resource_manager_endpoint=run_endpoint, timeout_seconds=timeout),
            push=GcpPushChain(run_endpoint=run_endpoint, monitoring_endpoint=monitoring_endpoint, timeout_seconds=timeout),
            # Cloud Scheduler and the audit log from the scenario's files here (production_stack uses their stand-ins).
            scheduler=SchedulerJobsFile(folder=workdir), audit=AuditLogFile(folder=workdir),
        ),
        store=SqliteStateStore(path=workdir / "state.sqlite3"),
        notifier=LocalNotifier(path=workdir / "notifications.jsonl", console=None),
    )
    if slack_base_url:
        from pydantic import SecretStr

        from alerts.slack import SlackNotifier
        from tests.servers.fake_slack import TOKEN

        canary.notifier = SlackNotifier(
            token=SecretStr(TOKEN),
            base_url=slack_base_url,
            channel_for=config.slack.channel_for,
            timeout_seconds=slack_timeout_seconds,
            max_retries=slack_retries,
            sleep=lambda seconds: None,  # retries still go over HTTP; only the pauses between them are skipped
        )

    def load(scenario: Scenario) -> None:
        load_warehouse(project, scenario)
        set_policies(scenario.policies)
        load_push(scenario)
        scenario.write_scheduler_and_audit(workdir)

    return Stack(backend="gcp", workdir=workdir, config=config, canary=canary, load=load)


def comparable(report: RunReport) -> dict[str, Any]:
    """What both backends must agree on: outcomes, findings (all but timings) and notification reasons."""
    findings = sorted(
        (
            {
                "monitor": f.monitor,
                "severity": f.severity.value,
                "key": dict(sorted(f.key.items())),
                "summary": f.summary,
                "details": f.details,
                "since": f.since,
                "fix": f.fix,
            }
            for f in report.findings
            if f.monitor != "canary"
        ),
        key=lambda f: (f["monitor"], sorted(f["key"].items())),
    )
    return {
        "today": report.today,
        "outcomes": {m.name: m.outcome.value for m in report.monitors},
        "findings": findings,
        "notifications": sorted((n.fingerprint, n.reason.value, n.delivered) for n in report.notifications),
    }


def finding_keys(report: RunReport) -> set[tuple[str, tuple[tuple[str, str], ...], str]]:
    """(monitor, sorted key items, severity) of every finding: the identity a test asserts on."""
    return {(f.monitor, tuple(sorted(f.key.items())), f.severity.value) for f in report.findings}


def production_stack(
    workdir: Path,
    *,
    env: dict[str, str],
    monkeypatch: Any,
    load_warehouse: Callable[[str, Scenario], None],
    set_policies: Callable[[dict[str, Any]], None],
    load_push: Callable[[Scenario], None],
    config: CanaryConfig | None = None,
) -> Stack:
    """The whole gcp backend as production builds it: CANARY_BACKEND=gcp and the endpoint variables set
    (`env`), then main.build_canary: BigQuery, Cloud Run, Firestore (FIRESTORE_EMULATOR_HOST), Slack."""
    import main
    from run.configure import load_settings

    # The endpoint settings on the gcp backend are refused unless a test says so explicitly.
    for name, value in {"CANARY_BACKEND": "gcp", "CANARY_ALLOW_TEST_ENDPOINTS": "1", **env}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    config = config or default_config()
    canary = main.build_canary(settings, config, console=None)
    project = settings.gcp_project

    def load(scenario: Scenario) -> None:
        load_warehouse(project, scenario)
        set_policies(scenario.policies)
        load_push(scenario)

    return Stack(backend="gcp", workdir=workdir, config=config, canary=canary, load=load)
