"""pipeline-canary: the one place objects are built, the HTTP Cloud Function, and the CLI's `main()`.

Nothing heavy is imported here at module load: the Google and Slack client libraries are imported
when the first run of an instance builds its sources, so a cold start pays only for what runs.
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime, timezone
from typing import Any, NoReturn, Sequence, TextIO

import functions_framework

import entry.http
from core.config import CanaryConfig, Settings
from core.environment import scoped_file
from core.secrets import scrub, secret_values
from run.configure import load_all
from run.steps import Canary, new_run_id


# --- building objects (the composition root) -------------------------------------------------


def build_pager(settings: Settings) -> Any:
    """PagerDuty's Events API v2 client when CANARY_PAGERDUTY_ROUTING_KEY is set (either backend), else None."""
    key = settings.pagerduty_routing_key
    if key is None or not key.get_secret_value():
        return None
    from alerts.pagerduty import DEFAULT_BASE_URL, PagerDutyEvents

    return PagerDutyEvents(routing_key=key, base_url=settings.pagerduty_url or DEFAULT_BASE_URL)


def build_canary(settings: Settings, config: CanaryConfig, *, console: TextIO | None) -> Canary:
    canary = _build_canary(settings, config, console=console)
    canary.pager = build_pager(settings)
    return canary


def _build_canary(settings: Settings, config: CanaryConfig, *, console: TextIO | None) -> Canary:
    from monitors.base import Sources

    if settings.backend == "local":
        from alerts.local_notifier import LocalNotifier
        from alerts.sqlite_state import SqliteStateStore
        from sources.duckdb_warehouse import DuckDbWarehouse
        from sources.iam_file import IamPolicyFile
        from sources.audit_files import AuditLogFile
        from sources.push_files import PushChainFiles
        from sources.scheduler_files import SchedulerJobsFile

        local = settings.local_dir
        environment = config.environment  # each environment its own records and notices in a shared folder
        return Canary(
            config=config,
            sources=Sources(
                warehouse=DuckDbWarehouse(path=local / "warehouse.duckdb", dataset_prefix=config.dataset_prefix),
                iam=IamPolicyFile(path=local / "iam_policies.json"),
                push=PushChainFiles(folder=local),
                scheduler=SchedulerJobsFile(folder=local),
                audit=AuditLogFile(folder=local),
            ),
            store=SqliteStateStore(path=local / scoped_file("state.sqlite3", environment=environment)),
            notifier=LocalNotifier(
                path=local / scoped_file("notifications.jsonl", environment=environment), console=console,
                environment=environment,
            ),
            setting_problems=settings.problems(),
            secrets=settings.secrets(),
        )
    from alerts.firestore_state import FirestoreStateStore
    from alerts.slack import SlackNotifier
    from sources.bigquery_warehouse import BigQueryWarehouse
    from sources.cloud_run_iam import CloudRunIamPolicies
    from sources.gcp_audit import GcpAuditLog
    from sources.gcp_push import GcpPushChain
    from sources.gcp_scheduler import GcpSchedulerJobs

    timeout = config.monitor_timeout.total_seconds()
    return Canary(
        config=config,
        sources=Sources(
            warehouse=BigQueryWarehouse(
                project=settings.gcp_project, endpoint=settings.bigquery_endpoint, timeout_seconds=timeout,
                dataset_prefix=config.dataset_prefix,
            ),
            iam=CloudRunIamPolicies(
                endpoint=settings.run_endpoint, resource_manager_endpoint=settings.resource_manager_endpoint,
                timeout_seconds=timeout,
            ),
            push=GcpPushChain(run_endpoint=settings.run_endpoint, monitoring_endpoint=settings.monitoring_endpoint, timeout_seconds=timeout),
            scheduler=GcpSchedulerJobs(endpoint=settings.scheduler_endpoint, timeout_seconds=timeout),
            audit=GcpAuditLog(project=settings.gcp_project, endpoint=settings.logging_endpoint, timeout_seconds=timeout),
        ),
        store=FirestoreStateStore(project=settings.gcp_project, config=config.firestore, environment=config.environment),
        backend="gcp",
        notifier=SlackNotifier(
            token=settings.slack_bot_token,
            base_url=settings.slack_base_url,
            channel_for=config.slack.channel_for,
            environment=config.environment,
        ),
        setting_problems=settings.problems(),
        secrets=settings.secrets(),
    )


# --- the HTTP function (Cloud Functions gen2) --------------------------------------------------
# Declared at cold start, built on the first request of an instance: importing this module reads no
# network and builds no client, and every later request of the instance reuses the same objects.
_instance_lock = threading.Lock()
_instance: Any = None


def http_instance() -> Any:
    global _instance
    with _instance_lock:
        if _instance is None:
            settings, config = load_all()
            _instance = entry.http.Instance(settings=settings, config=config, canary=build_canary(settings, config, console=None))
        return _instance


@functions_framework.http
def run_canary(request: Any) -> Any:
    """Cloud Scheduler (every 30 minutes) and people: a run, /health, or action=test_alert; JSON back."""
    return entry.http.handle(request, instance=http_instance, now=datetime.now(timezone.utc), run_id=new_run_id())


# --- the slack_actions function: the alert buttons' signed requests (its own deploy; docs/slack.md) ---
_actions_lock = threading.Lock()
_actions: Any = None
ACTIONS_SLACK_TIMEOUT_SECONDS = 1
"""Each Slack call of a click, without retries: the answer must reach Slack within its 3 seconds."""


def actions_instance() -> Any:
    global _actions
    with _actions_lock:
        if _actions is None:
            from entry.slack_actions import ActionsInstance

            settings, config = load_all()
            canary = build_canary(settings, config, console=None)
            if settings.backend == "gcp":
                from alerts.slack import SlackNotifier

                canary.notifier = SlackNotifier(
                    token=settings.slack_bot_token, base_url=settings.slack_base_url, channel_for=config.slack.channel_for,
                    max_retries=0, timeout_seconds=ACTIONS_SLACK_TIMEOUT_SECONDS, environment=config.environment,
                )
            _actions = ActionsInstance(settings=settings, config=config, canary=canary)
        return _actions


@functions_framework.http
def slack_actions(request: Any) -> Any:
    """Slack's interactivity requests (the Acknowledge / Silence buttons), verified by their signature."""
    from entry.slack_actions import handle

    return handle(request, instance=actions_instance, now=datetime.now(timezone.utc))


def cli(argv: Sequence[str] | None = None, *, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    """The command line, with this module building the objects (its modules load when it runs, not on a
    function's cold start)."""
    import entry.cli

    return entry.cli.cli(argv, build=build_canary, stdout=stdout, stderr=stderr)


def main() -> NoReturn:
    import entry.cli

    try:
        code = cli()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        # The reader went away (`| head`): the run is done; don't let interpreter exit complain about it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = entry.cli.EXIT_DELIVERY_FAILED
    except Exception as error:  # last resort: one line, never a traceback (nor a secret)
        print(scrub(f"error: internal: {type(error).__name__}: {error}", secret_values()), file=sys.stderr)
        code = entry.cli.EXIT_DELIVERY_FAILED
    sys.exit(code)


if __name__ == "__main__":
    main()
