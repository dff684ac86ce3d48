"""Configuration: the file's production defaults and the environment's overrides."""

from __future__ import annotations

from datetime import timedelta

import main
from canary.model import Severity
from monitors.registry import MONITORS


def test_the_shipped_file_holds_the_production_values():
    _, config = main.load_all()
    iam = config.monitors["orchestrator_iam"]
    assert (iam.project, iam.region, iam.role) == ("nba-props-platform", "us-west2", "roles/run.invoker")
    assert "phase2-to-phase3-orchestrator" not in iam.services and len(iam.services) == 3
    stalls = config.monitors["phase_stalls"]
    assert [(t.label, t.min_processors, t.max_delay) for t in stalls.transitions] == [
        ("phase_2_raw->phase_3_analytics", 6, timedelta(minutes=30)),
        ("phase_3_analytics->phase_4_precompute", 5, timedelta(hours=1)),
        ("phase_4_precompute->phase_5_predictions", 5, timedelta(hours=1)),
        ("phase_5_predictions->phase_6_publishing", 1, timedelta(hours=1)),
    ]
    assert config.monitors["missing_predictions"].system_id == "catboost_v9"
    assert (config.alerts.repeat_after.critical, config.alerts.repeat_after.warning) == (timedelta(hours=2), timedelta(hours=12))
    # The file says what the code's defaults say: a missing table changes nothing.
    for name, spec in MONITORS.items():
        assert config.monitors[name] == spec.config_model()


def test_slack_channel_from_the_environment_overrides_the_file_but_not_severity_routing(monkeypatch, tmp_path):
    path = tmp_path / "canary.toml"
    path.write_text('[slack]\nchannel = "#from-file"\nchannels = { critical = "#oncall" }\n')
    monkeypatch.setenv("CANARY_CONFIG", str(path))
    monkeypatch.setenv("CANARY_SLACK_CHANNEL", "#from-deploy")
    _, config = main.load_all()
    assert config.slack.channel_for(Severity.WARNING) == "#from-deploy"
    assert config.slack.channel_for(Severity.CRITICAL) == "#oncall"
