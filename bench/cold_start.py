"""Cold start: how long `import main` takes against `import functions_framework` alone (issue 18, item 7).

    .venv/bin/python bench/cold_start.py [--pairs 7]

Each pair imports functions_framework, then main, each in a fresh interpreter (no module cached), timed
inside the interpreter around the import statement only. Prints each pair and the median ratio
main / functions_framework (target <= 1.5). A figure, never asserted by a test.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = 1.5
PROBE = "import time; started = time.perf_counter(); import {module}; print(time.perf_counter() - started)"


def import_seconds(module: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7)
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


if __name__ == "__main__":
    main()
