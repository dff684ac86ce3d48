"""Configuration: the file's production defaults and the environment's overrides."""

from __future__ import annotations

from datetime import timedelta

from run.configure import load_all
from core.model import Severity
from monitors.registry import MONITORS
from tests.production import production_toml


def test_the_shipped_file_holds_the_production_values():
    _, config = load_all()
    pipeline = config.pipeline
    assert (pipeline.project, pipeline.region) == ("nba-props-platform", "us-west2")
    iam = config.monitors["orchestrator_iam"]
    assert iam.role == "roles/run.invoker" and iam.services is None
    # The removed phase2-to-phase3-orchestrator is not checked; the real phase-3 trigger is (session 204).
    assert iam.services_of(pipeline) == [
        "nba-phase3-analytics-processors", "phase3-to-phase4-orchestrator", "phase4-to-phase5-orchestrator",
        "phase5-to-phase6-orchestrator",
    ]
    assert [(t.label, t.min_processors, t.max_delay) for t in pipeline.transitions] == [
        ("phase_2_raw->phase_3_analytics", 6, timedelta(minutes=30)),
        ("phase_3_analytics->phase_4_precompute", 5, timedelta(hours=1)),
        ("phase_4_precompute->phase_5_predictions", 5, timedelta(hours=1)),
        ("phase_5_predictions->phase_6_publishing", 1, timedelta(hours=1)),
    ]
    assert config.monitors["missing_predictions"].system_id == "catboost_v9"
    assert (config.alerts.repeat_after.critical, config.alerts.repeat_after.warning) == (timedelta(hours=2), timedelta(hours=12))
    assert set(config.monitors) == set(MONITORS)


def test_slack_channel_from_the_environment_overrides_the_file_but_not_severity_routing(monkeypatch, tmp_path):
    path = tmp_path / "canary.toml"
    path.write_text(production_toml('channel = "#nba-pipeline-alerts"', 'channel = "#from-file"\nchannels = { critical = "#oncall" }'))
    monkeypatch.setenv("CANARY_CONFIG", str(path))
    monkeypatch.setenv("CANARY_SLACK_CHANNEL", "#from-deploy")
    _, config = load_all()
    assert config.slack.channel_for(Severity.WARNING) == "#from-deploy"
    assert config.slack.channel_for(Severity.CRITICAL) == "#oncall"


def test_settings_come_from_the_environment_and_arguments_win(monkeypatch) -> None:
    from core.config import Settings

    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    monkeypatch.setenv("canary_gcp_project", "other-project")  # any case, as pydantic-settings matched
    monkeypatch.setenv("CANARY_ALLOW_TEST_ENDPOINTS", "1")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8080")
    monkeypatch.setenv("CANARY_NOT_A_SETTING", "ignored")
    settings = Settings()
    assert (settings.backend, settings.gcp_project, settings.allow_test_endpoints, settings.firestore_emulator_host) == (
        "gcp", "other-project", True, "127.0.0.1:8080")
    assert Settings(backend="local").backend == "local"
