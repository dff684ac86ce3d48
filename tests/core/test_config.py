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


# --- [escalation] ---------------------------------------------------------------------------------

ESCALATION_SHIPPED = """
[escalation]
after = "30m"
severities = ["critical"]
mention = "<!subteam^S123>"
"""


def _with_escalation(tmp_path, table: str):
    from core.config import DEFAULT_CONFIG_PATH
    from run.configure import load_config

    path = tmp_path / "canary.toml"
    path.write_text(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8") + table, encoding="utf-8")
    return load_config(path)


def test_escalation_is_off_unless_its_table_is_there_and_the_shipped_example_loads_uncommented(tmp_path):
    from core.config import DEFAULT_CONFIG_PATH
    from run.configure import load_config

    assert load_config(DEFAULT_CONFIG_PATH).escalation is None
    shipped = DEFAULT_CONFIG_PATH.read_text(encoding="utf-8")
    start = shipped.index("# [escalation]")
    block = shipped[start:shipped.index("\n\n", start)]
    uncommented = "\n".join(line.removeprefix("# ") for line in block.splitlines() if not line.startswith("# #"))
    path = tmp_path / "canary.toml"
    path.write_text(shipped.replace(block, uncommented), encoding="utf-8")
    policy = load_config(path).escalation
    assert policy is not None
    assert (policy.after, policy.severities, policy.mention) == (timedelta(minutes=30), [Severity.CRITICAL], "<!subteam^S123>")
    assert policy.at_once_when_predictions_due_within == timedelta(hours=1)
    assert _with_escalation(tmp_path, ESCALATION_SHIPPED).escalation.mention == "<!subteam^S123>"


def test_every_escalation_mistake_is_listed_at_once(tmp_path):
    import pytest

    from core.config import ConfigError

    bad = """
[escalation]
after = "soon"
severities = []
mention = "@oncall"
page = true
"""
    with pytest.raises(ConfigError) as caught:
        _with_escalation(tmp_path, bad)
    message = str(caught.value)
    for part in ("escalation.after: ", "escalation.severities: ", "escalation.mention: not a Slack user group mention",
                 "escalation.page: unknown key"):
        assert part in message, message


def test_info_never_pages_and_a_user_mention_is_not_a_group(tmp_path):
    import pytest

    from core.config import ConfigError

    with pytest.raises(ConfigError, match="info never pages"):
        _with_escalation(tmp_path, '\n[escalation]\nseverities = ["info"]\n')
    with pytest.raises(ConfigError, match="not a Slack user group mention"):
        _with_escalation(tmp_path, '\n[escalation]\nmention = "<@U012AB3CD>"\n')


def test_the_pagerduty_stand_in_url_needs_test_endpoints_and_the_key_is_a_secret(monkeypatch):
    import pytest
    from pydantic import ValidationError

    from core.config import Settings

    with pytest.raises(ValidationError, match="CANARY_ALLOW_TEST_ENDPOINTS=1"):
        Settings(backend="local", pagerduty_url="http://127.0.0.1:9060")
    settings = Settings(backend="gcp", pagerduty_url="http://127.0.0.1:9060/", allow_test_endpoints=True,
                        pagerduty_routing_key="R0UT1NGKEY0SECRET0do0not0print00")
    assert settings.pagerduty_url == "http://127.0.0.1:9060"
    assert "R0UT1NGKEY0SECRET0do0not0print00" in settings.secrets()
    assert "R0UT1NGKEY0SECRET0do0not0print00" not in repr(settings)


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


def test_a_placeholder_or_broken_link_base_is_a_configuration_error_listed_with_the_others(tmp_path):
    """canary.toml ships `# canary_url = "https://..."`: uncommented as is, every retry command would print a URL
    that goes nowhere. Every link base is checked, and every bad one listed at once."""
    text = production_toml('# canary_url = "https://..."', 'canary_url = "https://..."').replace(
        'slack_archive = "https://slack.com/archives"', 'slack_archive = "slack.com/archives"')
    path = tmp_path / "canary.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "links.canary_url: 'https://...' has a host that is not a host name or IP address" in message, message
    assert "links.slack_archive: 'slack.com/archives' is not an http(s) URL" in message, message
    good = tmp_path / "good.toml"
    good.write_text(production_toml('# canary_url = "https://..."', 'canary_url = "https://pipeline-canary-abc-uw.a.run.app"'))
    assert load_config(good).links.canary_url == "https://pipeline-canary-abc-uw.a.run.app"
