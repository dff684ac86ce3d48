"""A configuration file's problems are listed all at once: the operator fixes the file in one pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError
from run.configure import load_config
from tests.production import PRODUCTION_TOML, production_toml


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ").split("; ")


def test_a_file_with_only_one_monitor_table_lists_every_required_key_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "canary.toml"
    path.write_text('[monitors.phase_stalls]\nlookback_days = 1\n')
    assert problems_of(path) == [
        "pipeline: Field required",
        "monitors.orchestrator_iam.member: Field required",
        "monitors.push_delivery.push_account: Field required",
        "monitors.missing_predictions.system_id: Field required",
    ]


def test_top_level_pipeline_and_monitor_problems_come_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "canary.toml"
    text = production_toml('timezone = "America/New_York"', 'timezone = "Mars/Olympus"')
    text = text.replace("group_after = 5", "group_afterr = 5").replace('region = "us-west2"\n', "")
    text = text.replace('lead_time = "3h"', 'lead_time = "soon"')
    text += "\n[monitors.stall_detector]\n"
    path.write_text(text)
    problems = problems_of(path)
    assert problems[0].startswith("timezone: unknown time zone 'Mars/Olympus'")
    assert any(p.startswith("alerts.group_afterr: unknown key (known: repeat_after, group_after") for p in problems)
    assert "pipeline.region: Field required" in problems
    assert any(p.startswith("monitors.stall_detector: unknown monitor") for p in problems)
    assert any(p.startswith("monitors.missing_predictions.lead_time: expected a duration") for p in problems)
    assert len(problems) == 5, problems


def test_every_name_the_pipeline_does_not_know_is_named_at_once(tmp_path: Path) -> None:
    path = tmp_path / "canary.toml"
    text = production_toml('predictions_phase = "phase_5_predictions"', 'predictions_phase = "phase_5"')
    text = text.replace('to = "phase_4_precompute"', 'to = "phase_4"').replace('to = "phase_6_publishing"', 'to = "phase_6"')
    text = text.replace('role = "roles/run.invoker"', 'role = "roles/run.invoker"\nservices = ["nope-orchestrator"]')
    path.write_text(text)
    problems = problems_of(path)
    assert [p.split(":")[0] for p in problems] == [
        "pipeline", "pipeline.transitions[phase_3_analytics->phase_4].to",
        "pipeline.transitions[phase_5_predictions->phase_6].to",
    ], problems
    assert problems[0].startswith("pipeline: predictions_phase: unknown phase 'phase_5'")


def test_monitor_tables_are_checked_against_a_valid_pipeline_when_the_rest_of_the_file_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "canary.toml"
    text = production_toml("group_after = 5", "group_after = 0")
    text = text.replace('role = "roles/run.invoker"', 'role = "roles/run.invoker"\nservices = ["nope-orchestrator"]')
    path.write_text(text)
    problems = problems_of(path)
    assert problems[0].startswith("alerts.group_after: Input should be greater than or equal to 1")
    assert problems[1].startswith("monitors.orchestrator_iam.services[0]: unknown service 'nope-orchestrator'")
    assert len(problems) == 2


def test_the_shipped_file_is_valid() -> None:
    assert load_config(Path(__file__).resolve().parents[2] / "canary.toml").pipeline.project == "nba-props-platform"
    assert PRODUCTION_TOML


MINIMAL = '''
[pipeline]
project = "nba-props-platform"
region = "us-west2"
phases = ["phase_4_precompute", "phase_5_predictions"]
predictions_phase = "phase_5_predictions"
[[pipeline.transitions]]
from = "phase_4_precompute"
to = "phase_5_predictions"
max_delay = "60m"
min_processors = 5
service = "phase4-to-phase5-orchestrator"
[monitors.orchestrator_iam]
member = "serviceAccount:756957797294-compute@developer.gserviceaccount.com"
[monitors.push_delivery]
push_account = "756957797294-compute@developer.gserviceaccount.com"
[monitors.missing_predictions]
system_id = "catboost_v9"
'''
"""What canary.toml's header says is required, nothing else."""

REQUIRED_LINES = [line for line in MINIMAL.strip().splitlines() if "=" in line and not line.startswith(("[", "service"))]


def test_the_keys_the_header_calls_required_are_enough(tmp_path: Path) -> None:
    path = tmp_path / "canary.toml"
    path.write_text(MINIMAL)
    config = load_config(path)
    assert config.pipeline.services == ["phase4-to-phase5-orchestrator"] and config.digest.enabled


@pytest.mark.parametrize("line", REQUIRED_LINES)
def test_each_key_the_header_calls_required_is_required(tmp_path: Path, line: str) -> None:
    path = tmp_path / "canary.toml"
    path.write_text(MINIMAL.replace(line + "\n", ""))
    key = line.split("=")[0].strip()
    assert any(key in problem or "transitions" in problem for problem in problems_of(path))


def test_the_header_of_canary_toml_names_every_required_key() -> None:
    header = PRODUCTION_TOML.split("\n\n", 1)[0]
    assert "Every key is optional" not in header
    for key in ("pipeline:", "project", "region", "phases", "predictions_phase", "pipeline.transitions", "from", "to",
                "max_delay", "min_processors or required_processors", "names a service", "monitors.orchestrator_iam.member",
                "monitors.push_delivery.push_account", "monitors.missing_predictions.system_id"):
        assert key in header, key


def test_a_missing_pipeline_key_and_a_mistyped_phase_come_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "canary.toml"
    text = production_toml('region = "us-west2"\n', "")
    text = text.replace('to = "phase_4_precompute"', 'to = "phase_4"').replace("min_processors = 5", "", 1)
    path.write_text(text)
    problems = problems_of(path)
    assert problems[0] == "pipeline.region: Field required"
    assert problems[1].startswith(
        "pipeline.transitions[phase_2_raw->phase_3_analytics]: give exactly one of min_processors or required_processors")
    assert problems[2].startswith(
        "pipeline.transitions[phase_3_analytics->phase_4].to: unknown phase 'phase_4' (known: phase_2_raw")
    assert len(problems) == 3, problems

def test_another_deployment_watches_its_own_scheduler_job_not_productions(monkeypatch) -> None:
    """deploy.sh names the canary's job after its function: CANARY_FUNCTION moves the watched job with it."""
    from core.config import Settings
    from run.configure import apply_settings, load_config
    from tests.conftest import PROJECT_ROOT

    config = load_config(PROJECT_ROOT / "canary.toml")
    assert config.monitors["scheduler_jobs"].canary_job == "pipeline-canary"
    staging = apply_settings(config, Settings(function="pipeline-canary-staging"))
    assert staging.monitors["scheduler_jobs"].canary_job == "pipeline-canary-staging"
    assert staging.links.canary_service == "pipeline-canary-staging"
    assert apply_settings(config, Settings()).monitors["scheduler_jobs"].canary_job == "pipeline-canary"
