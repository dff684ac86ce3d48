"""run/configure.py: the environment's overrides of the file's values."""

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
