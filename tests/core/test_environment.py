"""Two canaries of different environments on one store: production broken, staging healthy, run interleaved.

They share one local folder (SQLite) or one Firestore database (the emulator) and one warehouse file
(production reads nba_*, staging test_nba_*). Nothing may cross: staging never resolves, repeats, silences
or takes the digest of production, and production never sees staging's records.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import main
from alerts.firestore_state import FirestoreStateStore
from alerts.silences import new_silence
from core.config import DEFAULT_CONFIG_PATH, ConfigError, Settings
from core.environment import environment_problem, scoped_file, scoped_name
from run.configure import apply_settings, load_config
from run.steps import Canary, RunRequest, execute
from tests.scenario import local
from tests.test_scenarios_both_backends import P3, P6, pipeline
from tests.servers.firestore_emulator import firestore_emulator, firestore_env  # noqa: F401  (fixtures)

DAY = date(2026, 11, 21)
STAGING_CHANNEL = "#nba-pipeline-alerts-staging"


def write_shared_folder(folder: Path) -> None:
    """One warehouse file: production's broken day in nba_*, staging's healthy day in test_nba_*."""
    broken, healthy = pipeline(DAY, through=P3, predictions=False), pipeline(DAY, through=P6)
    broken.write_local(folder)
    staged = folder / "staging-only"
    healthy.write_local(staged, dataset_prefix="test_")
    with duckdb.connect(str(folder / "warehouse.duckdb")) as db:
        db.execute(f"ATTACH '{staged / 'warehouse.duckdb'}' AS staged (READ_ONLY)")
        for (schema, table) in db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_catalog = 'staged'"
        ).fetchall():
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            db.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM staged.{schema}.{table}")


def canary_for(folder: Path, *, environment: str | None, store: str, project: str = "", config: Path = DEFAULT_CONFIG_PATH) -> Canary:
    """A canary as main.py builds it from the environment variables; `store` 'firestore' swaps in the
    Firestore store built the way main.py builds it on the gcp backend."""
    settings = Settings(
        backend="local", local_dir=folder, environment=environment,
        dataset_prefix="test_" if environment == "staging" else None,
        slack_channel=STAGING_CHANNEL if environment == "staging" else None,
    )
    configured = apply_settings(load_config(config), settings)
    canary = main.build_canary(settings, configured, console=None)
    if store == "firestore":
        canary.store = FirestoreStateStore(project=project, config=configured.firestore, environment=configured.environment)
    return canary


def notices(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def run(canary: Canary, at: datetime, name: str) -> list[tuple[str, str]]:
    report = execute(canary, RunRequest(run_id=name, now=at))
    assert not report.delivery_failed, report.notifications
    return sorted((n.reason.value, n.fingerprint) for n in report.notifications if n.delivered)


def interleave(folder: Path, *, store: str, project: str = "", staging_environment: str | None = "staging") -> dict[str, Any]:
    """Production broken and staging healthy, run in turns over 2 h 30 (past a critical repeat), with a
    silence of every phase_stalls alert made through staging after the first round."""
    write_shared_folder(folder)
    production = canary_for(folder, environment=None, store=store, project=project)
    staging = canary_for(folder, environment=staging_environment, store=store, project=project)
    t0 = local(DAY, "17:00")  # after the predictions were due (16:00) and after the digest time (09:00)
    sent: dict[str, list[tuple[str, str]]] = {"production": [], "staging": []}
    for step, minutes in enumerate((0, 30, 125, 150)):
        at = t0 + timedelta(minutes=minutes)
        if step == 1:
            staging.store.add_silence(new_silence(
                matchers={"monitor": "phase_stalls"}, duration="1d", reason="staging drill", author="tester", now=at,
            ))
        first, second = ((production, "production"), (staging, "staging")) if step % 2 == 0 else ((staging, "staging"), (production, "production"))
        for canary, name in (first, second):
            sent[name] += run(canary, at, f"{name}-{step}")
    return {"sent": sent, "production": production, "staging": staging, "at": t0 + timedelta(minutes=150)}


def assert_nothing_crossed(result: dict[str, Any], folder: Path) -> None:
    production_reasons = [reason for reason, _ in result["sent"]["production"]]
    staging_reasons = [reason for reason, _ in result["sent"]["staging"]]
    # Production: its incidents first, its digest, then the critical repeat; nothing resolved, nothing muted.
    assert production_reasons.count("first") >= 2 and production_reasons.count("digest") == 1
    assert "repeat" in production_reasons and "resolved" not in production_reasons
    # Staging is healthy: its own digest and nothing else.
    assert staging_reasons == ["digest"]
    # Each store holds only its own environment's records.
    production, staging = result["production"], result["staging"]
    firing = production.store.load_firing()
    assert {s.monitor for s in firing.values()} >= {"phase_stalls", "missing_predictions"}
    assert staging.store.load_firing() == {}
    assert [s.reason for s in staging.store.silences(now=result["at"])] == ["staging drill"]
    assert production.store.silences(now=result["at"]) == []
    # Notices go to each environment's own file; staging's say where they come from, production's do not.
    staged = notices(folder / scoped_file("notifications.jsonl", environment="staging"))
    assert [n["reason"] for n in staged] == ["digest"]
    assert all(n["environment"] == "staging" and n["text"].startswith("[staging] ") for n in staged)
    produced = notices(folder / "notifications.jsonl")
    assert produced and not any("[staging]" in n["text"] or "environment" in n for n in produced)


def test_two_environments_on_one_sqlite_folder_never_cross(tmp_path):
    folder = tmp_path / "shared"
    result = interleave(folder, store="sqlite")
    assert_nothing_crossed(result, folder)
    assert sorted(p.name for p in folder.glob("state*.sqlite3")) == ["state.sqlite3", "state__staging.sqlite3"]


@pytest.mark.servers
def test_two_environments_on_one_firestore_database_never_cross(tmp_path, firestore_env):
    folder = tmp_path / "shared"
    result = interleave(folder, store="firestore", project=firestore_env.project)
    assert_nothing_crossed(result, folder)
    assert result["staging"].store.alerts_collection == "canary_alerts__staging"
    assert result["production"].store.alerts_collection == "canary_alerts"


def test_the_same_run_without_separate_environments_does_cross(tmp_path):
    """The check above can fail: two canaries of ONE environment on the folder share the records, and the
    healthy one (reading test_ data) takes the digest and resolves production's incidents."""
    folder = tmp_path / "shared"
    result = interleave(folder, store="sqlite", staging_environment=None)
    staging_reasons = [reason for reason, _ in result["sent"]["staging"]]
    assert "resolved" in staging_reasons or "digest" not in staging_reasons


# --- naming and configuration -------------------------------------------------------------------


def test_store_names_keep_production_and_suffix_every_other_environment():
    assert scoped_name("canary_alerts", environment="production") == "canary_alerts"
    assert scoped_name("canary_alerts", environment="staging") == "canary_alerts__staging"
    assert scoped_file("state.sqlite3", environment="staging") == "state__staging.sqlite3"
    assert scoped_file("notifications.jsonl", environment="production") == "notifications.jsonl"


@pytest.mark.parametrize("name", ["Staging", "staging_1", "-x", "x-", "a" * 13, "", "stag ing"])
def test_an_environment_name_that_cannot_name_google_cloud_resources_is_refused(name):
    assert environment_problem(name) is not None
    with pytest.raises(Exception) as raised:
        Settings(environment=name or " ")
    assert "not an environment name" in str(raised.value)


def test_a_collection_name_may_not_hold_the_environment_separator(tmp_path):
    toml = tmp_path / "canary.toml"
    toml.write_text(DEFAULT_CONFIG_PATH.read_text().replace('alerts_collection = "canary_alerts"', 'alerts_collection = "canary_alerts__staging"'))
    with pytest.raises(ConfigError, match="reserved for an environment's suffix"):
        load_config(toml)


def gcp_settings(**values: Any) -> Settings:
    return Settings(backend="gcp", **values)


def test_another_environment_on_gcp_needs_its_own_slack_channel():
    config = load_config(DEFAULT_CONFIG_PATH)
    with pytest.raises(ConfigError, match="needs its own Slack channel in CANARY_SLACK_CHANNEL"):
        apply_settings(config, gcp_settings(environment="staging"))
    for production_channel in ("#nba-pipeline-alerts", "nba-pipeline-alerts", "#NBA-pipeline-alerts"):
        with pytest.raises(ConfigError, match="is a channel of production"):
            apply_settings(config, gcp_settings(environment="staging", slack_channel=production_channel))
    routed = config.model_copy(update={"slack": config.slack.model_copy(update={"channels": {"critical": "#oncall"}})})
    with pytest.raises(ConfigError, match="is a channel of production"):
        apply_settings(routed, gcp_settings(environment="staging", slack_channel="#oncall"))
    staged = apply_settings(routed, gcp_settings(environment="staging", slack_channel=STAGING_CHANNEL))
    # Production's per-severity routing is production's: every staging notice goes to staging's channel.
    assert {staged.slack.channel_for(s) for s in ("critical", "warning", "info")} == {STAGING_CHANNEL}  # type: ignore[arg-type]
    assert staged.environment == "staging"


def test_links_and_fixes_name_the_prefixed_datasets_and_the_deployments_own_function(tmp_path):
    from alerts.links import LinkContext, alert_links
    from run.runner import retry_command

    settings = Settings(backend="local", environment="staging", dataset_prefix="test_", function="pipeline-canary-staging")
    config = apply_settings(load_config(DEFAULT_CONFIG_PATH), settings)
    ctx = LinkContext(pipeline=config.pipeline, links=config.links, dataset_prefix=config.dataset_prefix)
    links = dict(alert_links(ctx, monitor="missing_predictions", key={}, details={"table": "nba_predictions.player_prop_predictions"},
                             start=datetime(2026, 11, 21, 20, tzinfo=None).astimezone(), end=datetime(2026, 11, 21, 21).astimezone()))
    [label] = [label for label in links if label.startswith("BigQuery")]
    assert label == "BigQuery: test_nba_predictions.player_prop_predictions"
    assert "!2stest_nba_predictions!3splayer_prop_predictions" in links[label]
    retry = retry_command("phase_stalls", backend="gcp", pipeline=config.pipeline, links=config.links)
    assert retry.endswith("/pipeline-canary-staging") and "/pipeline-canary " not in retry + " "
    from monitors import missing_predictions

    default_fix = missing_predictions.Config(system_id="catboost_v9").rerun(DAY, dataset_prefix="test_")
    assert "FROM test_nba_predictions.player_prop_predictions" in default_fix


def test_every_slack_message_of_another_environment_names_it_first_and_production_is_unchanged():
    from alerts.render_slack import for_environment_slack, render_alert
    from core.model import Reason
    from tests.slack_cases import message, stall_finding

    plain = render_alert(message(stall_finding(), Reason.FIRST))
    staged = for_environment_slack(plain, "staging")
    assert for_environment_slack(plain, "production") == plain
    header = staged.to_dict()["blocks"][0]
    assert header["type"] == "header" and header["text"]["text"].startswith("[staging] ")
    assert staged.text.startswith("[staging] ") and staged.text.endswith(plain.text[-50:])
    assert staged.to_dict()["blocks"][1:] == plain.to_dict()["blocks"][1:]


def test_a_staging_runs_fix_and_links_name_the_prefixed_predictions_table(tmp_path):
    """Staging broken this time: its missing-predictions alert reads test_ tables, and says so."""
    folder = tmp_path / "staging"
    pipeline(DAY, through=P3, predictions=False).write_local(folder, dataset_prefix="test_")
    toml = tmp_path / "canary.toml"  # without a rerun job or command, the fix is the query of what is there
    text = DEFAULT_CONFIG_PATH.read_text()
    toml.write_text(text.replace('\nrerun_command = "', '\n# rerun_command = "').replace('\nrerun_job = "', '\n# rerun_job = "'))
    staging = canary_for(folder, environment="staging", store="sqlite", config=toml)
    report = execute(staging, RunRequest(run_id="s", now=local(DAY, "17:00"), dry_run=True))
    [finding] = [f for f in report.findings if f.monitor == "missing_predictions"]
    assert "FROM test_nba_predictions.player_prop_predictions" in (finding.fix or "")
    texts = "\n".join(n.text or "" for n in report.notifications)
    assert "BigQuery: test_nba_predictions.player_prop_predictions" in texts
    assert "BigQuery: nba_predictions." not in texts


def test_a_staging_demo_leaves_productions_records_in_the_same_folder(local_dir: Path, monkeypatch) -> None:
    """The demo deletes its own environment's state files only: production's stay, byte for byte."""
    from tests.conftest import run_cli

    assert run_cli("demo", "--no-run").code == 0 and run_cli("run").code == 0  # production's records and notices
    production = {name: (local_dir / name).read_bytes() for name in ("state.sqlite3", "notifications.jsonl")}
    monkeypatch.setenv("CANARY_ENVIRONMENT", "staging")
    staged = run_cli("demo")
    assert staged.code == 0, staged.stderr
    assert {name: (local_dir / name).read_bytes() for name in production} == production
    assert (local_dir / "state__staging.sqlite3").exists() and (local_dir / "notifications__staging.jsonl").exists()
    again = run_cli("demo", "--no-run")
    assert "state__staging.sqlite3 (alert records and silences)" in again.stdout
    assert not any(f"{sep}state.sqlite3 (" in again.stdout for sep in (": ", "; "))  # production's is not named
