"""A cold start pays only for what runs: importing main builds no client and loads no Google/Slack library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

HEAVY = ("google.cloud.bigquery", "google.cloud.firestore", "google.cloud.run_v2", "slack_sdk")

PROBE = r"""
import json, socket, sys
def refuse(*args, **kwargs):
    raise AssertionError(f"network at import: connect{args[1:]}")
socket.socket.connect = refuse          # startup must not read the network
socket.create_connection = refuse
import {what}
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))
"""


def loaded_after(statement: str) -> list[str]:
    code = PROBE.replace("import {what}", statement).replace("{heavy!r}", repr(HEAVY))
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "CANARY_BACKEND": "gcp"})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_main_loads_no_google_cloud_or_slack_library():
    assert loaded_after("import main") == []


def test_functions_framework_loading_the_function_loads_none_either():
    statement = (
        "import functions_framework\n"
        "app = functions_framework.create_app(target='run_canary', source='main.py')\n"
        "assert sys.modules['main']._instance is None"
    )
    assert loaded_after(statement) == []


def test_the_probe_does_see_a_heavy_import():
    """The check above can fail: the same probe notices the library once something imports it."""
    assert "google.cloud.bigquery" in loaded_after("import main\nimport google.cloud.bigquery")


CLI_ONLY = ("sqlglot", "demo", "run.replay", "entry.timeline", "entry.cli", "duckdb")
"""What only the CLI's commands (or the local backend's warehouse, built at the first run) need."""
NEVER_AT_IMPORT = ("pydantic_settings", "asyncio")
"""The settings are read without pydantic-settings, which brought asyncio (functions_framework needs neither)."""


def modules_after_import_main() -> list[str]:
    done = subprocess.run([sys.executable, "-c", "import main; import sys; print(sorted(sys.modules))"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.splitlines()[-1])  # a printed list of module names


def test_importing_main_loads_no_cli_command_module_nor_sql_parser():
    """Issue 18 item 7: the demo, the replay, its timeline and sqlglot load when a CLI command runs."""
    loaded = modules_after_import_main()
    assert [m for m in loaded if m.split(".")[0] in CLI_ONLY or m.startswith(CLI_ONLY)] == []
    assert [m for m in loaded if m.split(".")[0] in NEVER_AT_IMPORT] == []
    assert "run.steps" in loaded and "alerts.pipeline" in loaded  # what a run needs is there: the probe sees modules
