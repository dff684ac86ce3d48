"""Cold start: how long `import main` takes against `import functions_framework` alone (issue 18, item 7),
and what a fresh instance pays before its first run answers.

    .venv/bin/python bench/cold_start.py [--pairs 7] [--instances 5]

Each pair imports functions_framework, then main, each in a fresh interpreter (no module cached), timed
inside the interpreter around the import statement only. Prints each pair and the median ratio
main / functions_framework (target <= 1.5).

Then, in fresh interpreters, a whole cold start phase by phase, because the import is only its first part:
the gcp backend's instance as Cloud Functions starts it (import functions_framework, import main, the
function loaded by functions_framework's create_app, configuration read and validated, the canary built with
its Google and Slack clients: what the first request of an instance does before it reads the network), and
the local backend's first dry run answered through the same app (demo data in a temporary folder). Medians.
Figures, never asserted by a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5
PROBE = "import time; started = time.perf_counter(); import {module}; print(time.perf_counter() - started)"

INSTANCE = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
import functions_framework
marks.append(("import functions_framework", time.perf_counter()))
import main
marks.append(("import main", time.perf_counter()))
app = functions_framework.create_app(target="run_canary", source="main.py")
marks.append(("create_app", time.perf_counter()))
if sys.argv[1] == "gcp":
    from run.configure import load_all
    settings, config = load_all()
    marks.append(("configuration", time.perf_counter()))
    main.build_canary(settings, config, console=None)
    marks.append(("clients built", time.perf_counter()))
else:
    answer = app.test_client().get("/?dry_run=true&now=" + sys.argv[2])
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    marks.append(("first dry run answered", time.perf_counter()))
print(json.dumps([(name, (at - marks[i][1]) * 1000) for i, (name, at) in enumerate(marks[1:])]))
"""


def import_seconds(module: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def instance_phases(backend: str, *, env: dict[str, str], now: str = "") -> list[tuple[str, float]]:
    done = subprocess.run([sys.executable, "-c", INSTANCE, backend, now], cwd=ROOT, capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {backend} instance failed: {done.stderr.strip().splitlines()[-1:]}")
    return [(name, ms) for name, ms in json.loads(done.stdout.strip().splitlines()[-1])]


def print_instance(title: str, runs: list[list[tuple[str, float]]]) -> None:
    names = [name for name, _ in runs[0]]
    medians = [statistics.median(run[i][1] for run in runs) for i in range(len(names))]
    total = sum(medians)
    print(f"{title} (median of {len(runs)} fresh interpreters): {total:.0f} ms")
    for name, ms in zip(names, medians):
        print(f"  {name:<28} {ms:6.0f} ms  {100 * ms / total:3.0f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--instances", type=int, default=5)
    args = parser.parse_args()
    ratios = []
    for pair in range(1, args.pairs + 1):
        framework, canary = import_seconds("functions_framework"), import_seconds("main")
        ratios.append(canary / framework)
        print(f"pair {pair}: functions_framework {framework * 1000:.0f} ms, main {canary * 1000:.0f} ms, "
              f"ratio {canary / framework:.2f}")
    median = statistics.median(ratios)
    print(f"cold start: import main / import functions_framework = {median:.2f}x (median of {args.pairs} pairs; "
          f"target <= {TARGET}x)")
    if args.instances < 1:
        return
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    gcp = {**base, "CANARY_BACKEND": "gcp", "CANARY_GCP_PROJECT": "nba-props-platform"}
    print_instance("gcp instance up to its first network call",
                   [instance_phases("gcp", env=gcp) for _ in range(args.instances)])
    with tempfile.TemporaryDirectory() as folder:
        local = {**base, "CANARY_LOCAL_DIR": folder}
        demo = subprocess.run([sys.executable, "main.py", "demo"], cwd=ROOT, env=local, capture_output=True, text=True)
        if demo.returncode != 0:
            raise SystemExit(f"the demo failed: {demo.stderr.strip()[-300:]}")
        now = re.search(r"--now (\S+?)\)", demo.stdout).group(1)  # the demo's own clock: its broken evening
        print_instance("local instance up to its first dry run answered",
                       [instance_phases("local", env=local, now=now) for _ in range(args.instances)])


if __name__ == "__main__":
    main()
