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
    # Every hop: 3->4's orchestrator publishes to nba-phase4-trigger, which pushes to the phase-4 service.
    assert iam.services_of(pipeline) == [
        "nba-phase3-analytics-processors", "phase3-to-phase4-orchestrator", "nba-phase4-precompute-processors",
        "phase4-to-phase5-orchestrator", "phase5-to-phase6-orchestrator",
    ]
    assert [h.describe() for h in pipeline.transitions[1].hops] == [
        "first hop: phase3-to-phase4-orchestrator", "second hop: nba-phase4-trigger -> nba-phase4-precompute-processors",
    ]
    # Phase 2 is complete at 5 processors ("_triggered=True when >= 5 processors complete", session 205).
    assert [(t.label, t.min_processors, t.max_delay, t.complete_by) for t in pipeline.transitions] == [
        ("phase_2_raw->phase_3_analytics", 5, timedelta(minutes=30), None),
        ("phase_3_analytics->phase_4_precompute", 5, timedelta(hours=1), timedelta(hours=36)),
        ("phase_4_precompute->phase_5_predictions", 5, timedelta(hours=1), None),
        ("phase_5_predictions->phase_6_publishing", 1, timedelta(hours=1), None),
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


# --- issue 20, Why 10: errors name settings as written, say rules in words, list known keys, name transitions ---

import pytest  # noqa: E402

from core.config import ConfigError  # noqa: E402
from run.configure import load_config, load_settings  # noqa: E402


@pytest.mark.parametrize("old, new, expected, absent", [
    ('dataset_prefix = ""', 'dataset_prefix = "test-"',
     "dataset_prefix: expected letters, digits and underscores only", "^[A-Za-z0-9_]"),
    ("min_processors = 5              #", "max_dealy = \"1h\"\nmin_processors = 5  #",
     "pipeline.transitions[phase_2_raw->phase_3_analytics].max_dealy: unknown key (known: from, to, service, services, complete_by, "
     "min_processors, required_processors, max_delay, next_step, backup_job)", "transitions[0]"),
    ('role = "roles/run.invoker"', 'role = "roles/run.invoker"\nmembr = "x"',
     "monitors.orchestrator_iam.membr: unknown key (known: enabled, ", None),
])
def test_a_config_error_says_the_rule_in_words_lists_the_known_keys_and_names_transitions(tmp_path, old, new, expected,
                                                                                         absent):
    path = tmp_path / "canary.toml"
    path.write_text(production_toml(old, new), encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert expected in str(raised.value)
    assert absent is None or absent not in str(raised.value)


@pytest.mark.parametrize("name, value, expected", [
    ("CANARY_BACKEND", "cloud", "CANARY_BACKEND: Input should be 'local' or 'gcp'"),
    ("CANARY_DATASET_PREFIX", "te-st", "CANARY_DATASET_PREFIX: expected letters, digits and underscores only"),
    ("CANARY_GCP_PROJECT", "X", "CANARY_GCP_PROJECT: not a Google Cloud project id"),
])
def test_a_bad_environment_setting_is_named_as_the_user_sets_it(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert expected in str(raised.value) and "CANARY." not in str(raised.value)


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
