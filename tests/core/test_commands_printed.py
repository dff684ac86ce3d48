"""Every gcloud command the hop, push and phase findings print is accepted by the real gcloud parser, offline:
an empty CLOUDSDK_CONFIG (no account, no project) makes a well-formed command stop at "no active account"
(exit 1) before reaching Google; an unknown flag or a malformed value exits 2 (tests/test_deploy.py does the same)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.scenario import local
from tests.test_scenarios_both_backends import CASES, Case
from tests.servers.stacks import local_stack

# Findings whose fixes are checked: the second hop's binding (with its ordered fix), the request log of
# pushes_failing, the stall's logs read (5->6 has no next_step), a partial phase and a failed processor.
CASE_NAMES = ("second_hop_missing_invoker", "demo_like_incident", "partial_phase3", "iam_no_bindings")


def printed_commands(fix: str) -> list[list[str]]:
    """The commands a fix prints: the line a shell runs (a `#` starts a comment) and a command after "): "
    inside that comment (the backup job of an ordered fix)."""
    commands = [shlex.split(fix, comments=True)]
    _, _, comment = fix.partition("  # ")
    later = re.search(r"\): ((?:gcloud|bq) .*)$", comment)
    if later:
        commands.append(shlex.split(later.group(1)))
    return commands


def fixes(tmp_path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in CASE_NAMES:
        case: Case = CASES[name]()
        stack = local_stack(tmp_path / name)
        stack.load(case.scenario)
        for finding in stack.run(case.now).findings:
            if finding.fix:
                found[f"{finding.monitor}/{finding.key.get('problem')}/{finding.key.get('service') or finding.key.get('transition') or finding.key.get('phase')}"] = finding.fix
    # The 5->6 stall: no next_step, so its fix is a logs read (with --project).
    stack = local_stack(tmp_path / "stall56")
    stack.load(CASES["downstream_success_before_completion"]().scenario)
    for finding in stack.run(local(CASES["downstream_success_before_completion"]().now.date(), "12:00")).findings:
        if finding.fix:
            found[f"{finding.monitor}/{finding.key.get('transition')}"] = finding.fix
    return found


def test_every_printed_gcloud_command_is_accepted_by_the_real_gcloud_parser(tmp_path: Path) -> None:
    gcloud = shutil.which("gcloud", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", ""))
    if gcloud is None:
        pytest.skip("the gcloud CLI is not installed")
    found = fixes(tmp_path)
    # What this test must have seen, so that it cannot pass by checking nothing.
    assert {"orchestrator_iam/missing_invoker/nba-phase4-precompute-processors", "push_delivery/pushes_failing/phase4-to-phase5-orchestrator",
            "phase_stalls/phase_5_predictions->phase_6_publishing", "phase_stalls/incomplete/phase_3_analytics",
            "phase_stalls/failed/phase_3_analytics"} <= set(found), sorted(found)
    assert "--project=nba-props-platform" in found["phase_stalls/phase_5_predictions->phase_6_publishing"]
    request_log = found["push_delivery/pushes_failing/phase4-to-phase5-orchestrator"]
    assert "httpRequest.status=403" in request_log and "logs read" not in request_log  # not the service's own logs
    commands = [argv for fix in found.values() for argv in printed_commands(fix)]
    assert all(argv[0] == "gcloud" for argv in commands), commands
    assert any(argv[1:4] == ["scheduler", "jobs", "run"] for argv in commands)  # the ordered fix's backup job
    config = tmp_path / "gcloud-config"
    config.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
    env |= {"CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1"}

    def check(argv: list[str]) -> tuple[list[str], int, str]:
        done = subprocess.run([gcloud, *argv[1:]], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        return argv, done.returncode, done.stderr

    unique = list({tuple(a): a for a in commands}.values())
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(check, unique))
    for argv, code, err in results:
        assert code == 1 and "You do not currently have an active account selected" in err, (argv, code, err[:400])


def test_the_parser_check_can_fail(tmp_path: Path) -> None:
    """The same check refuses a misspelt flag of the same command family."""
    gcloud = shutil.which("gcloud", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", ""))
    if gcloud is None:
        pytest.skip("the gcloud CLI is not installed")
    done = subprocess.run([gcloud, "logging", "read", "severity>=ERROR", "--projectt=nba-props-platform"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "CLOUDSDK_CONFIG": str(tmp_path), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"})
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
