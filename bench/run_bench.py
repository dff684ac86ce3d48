"""Benchmarks that print figures (never asserted in tests): concurrency, cost against history, cold start.

    .venv/bin/python bench/run_bench.py [--latency 0.3] [--repeat 7]

1. Concurrency: every external call (Warehouse.query, IamPolicies.get) slowed by the same injected
   latency; a whole run against its slowest monitor (target run/slowest <= 1.5).
2. Cost against history: run time on the demo history (7 days) and on a 10x longer one (70 days),
   DuckDB backend (target ratio <= 1.3); warehouse jobs per run.
3. Cold start: `python -X importtime -c "import main"` against functions_framework alone.

bench/README.md records the last measured figures and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import DEFAULT_CONFIG_PATH, Settings  # noqa: E402
from run.configure import load_config  # noqa: E402
from demo.pipeline import build_demo, demo_now, write_demo  # noqa: E402
from run.steps import Canary, RunRequest, execute  # noqa: E402
from monitors.base import Sources  # noqa: E402


class SlowWarehouse:
    """The Warehouse port with a fixed latency added to every query (a slow network, the same for all)."""

    def __init__(self, inner: Any, latency: float) -> None:
        self.inner, self.latency, self.source = inner, latency, inner.source

    def query(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        time.sleep(self.latency)
        return self.inner.query(sql, params)


class SlowIam:
    def __init__(self, inner: Any, latency: float) -> None:
        self.inner, self.latency, self.source = inner, latency, inner.source

    def get(self, *, project: str, region: str, service: str) -> Any:
        time.sleep(self.latency)
        return self.inner.get(project=project, region=region, service=service)

    def get_project(self, *, project: str) -> Any:
        time.sleep(self.latency)
        return self.inner.get_project(project=project)


def demo_canary(workdir: Path, history_days: int) -> tuple[Canary, Any]:
    import main

    config = load_config(DEFAULT_CONFIG_PATH)
    from datetime import datetime, timezone

    now = demo_now(datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc), ZoneInfo(config.timezone))
    pipeline = build_demo(
        now=now, zone=config.zone, services=config.pipeline.services,
        push_member=config.monitors["orchestrator_iam"].member, history_days=history_days,
        project=config.pipeline.project, region=config.pipeline.region,
    )
    write_demo(pipeline, workdir)
    canary = main.build_canary(Settings(backend="local", local_dir=workdir), config, console=None)
    return canary, now


def timed_runs(canary: Canary, now: Any, repeat: int) -> tuple[list[float], list[Any]]:
    times, reports = [], []
    for index in range(repeat):
        started = time.perf_counter()
        reports.append(execute(canary, RunRequest(run_id=f"bench-{index}", now=now, dry_run=True)))
        times.append(time.perf_counter() - started)
    return times, reports


def bench_concurrency(latency: float, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        canary, now = demo_canary(Path(tmp), 7)
        timed_runs(canary, now, 1)  # warm: sqlglot transpile cache, DuckDB
        canary.sources = Sources(
            warehouse=SlowWarehouse(canary.sources.warehouse, latency), iam=SlowIam(canary.sources.iam, latency),
            push=canary.sources.push,
        )
        runs, reports = timed_runs(canary, now, repeat)
    ratios = [run / (max(m.duration_ms for m in report.monitors) / 1000) for run, report in zip(runs, reports)]
    slowest = statistics.median(max(m.duration_ms for m in r.monitors) / 1000 for r in reports)
    calls = 2 + 3  # two warehouse queries, three IAM policies
    return {"latency_s": latency, "run_s": statistics.median(runs), "slowest_monitor_s": slowest,
            "ratio": statistics.median(ratios), "sum_if_serial_s": calls * latency}


def bench_history(repeat: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    for days in (7, 70):
        with tempfile.TemporaryDirectory() as tmp:
            canary, now = demo_canary(Path(tmp), days)
            timed_runs(canary, now, 2)  # warm
            jobs_before = canary.sources.warehouse.jobs
            runs, _ = timed_runs(canary, now, repeat)
            figures[f"run_{days}d_s"] = statistics.median(runs)
            figures[f"jobs_per_run_{days}d"] = (canary.sources.warehouse.jobs - jobs_before) / repeat
            figures[f"rows_{days}d"] = _row_count(Path(tmp))
    figures["ratio"] = figures["run_70d_s"] / figures["run_7d_s"]
    return figures


def _row_count(workdir: Path) -> int:
    import duckdb

    from sources.tables import TABLES

    with duckdb.connect(str(workdir / "warehouse.duckdb"), read_only=True) as db:
        return sum(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES)


IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_profile(statement: str) -> tuple[float, set[str]]:
    """Total import time in ms (the sum of every module's own time) and the modules imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, check=True)
    total, modules = 0, set()
    for line in done.stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if match:
            total += int(match.group(1))
            modules.add(match.group(4))
    return total / 1000, modules


def bench_cold_start(repeat: int) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    heavy = ("google.cloud.bigquery", "google.cloud.firestore", "google.cloud.run_v2", "slack_sdk")
    for label, statement in (("main", "import main"), ("functions_framework", "import functions_framework")):
        totals, walls = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            total, modules = import_profile(statement)
            walls.append(time.perf_counter() - started)
            totals.append(total)
        figures[f"{label}_import_ms"] = statistics.median(totals)
        figures[f"{label}_process_ms"] = statistics.median(walls) * 1000
        if label == "main":
            figures["heavy_imported"] = sorted(m for m in modules if m.startswith(heavy))
    figures["ratio"] = figures["main_import_ms"] / figures["functions_framework_import_ms"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds added to every external call")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (the median is printed)")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), Python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}")

    c = bench_concurrency(args.latency, args.repeat)
    print("\n1. concurrency (every external call +{latency_s:g} s; 2 queries + 3 IAM reads = {sum_if_serial_s:.1f} s if serial)".format(**c))
    print("   whole run {run_s:.3f} s, slowest monitor {slowest_monitor_s:.3f} s, ratio run/slowest {ratio:.2f} (target <= 1.5)".format(**c))

    h = bench_history(args.repeat)
    print("\n2. cost against history (DuckDB, dry runs, median of {} runs)".format(args.repeat))
    print("   7 days  ({rows_7d:,} rows): {run_7d_s:.3f} s, {jobs_per_run_7d:g} warehouse jobs per run".format(**h))
    print("   70 days ({rows_70d:,} rows): {run_70d_s:.3f} s, {jobs_per_run_70d:g} warehouse jobs per run".format(**h))
    print("   ratio 70d/7d {ratio:.2f} (target <= 1.3)".format(**h))

    s = bench_cold_start(max(3, args.repeat // 2))
    print("\n3. cold start (python -X importtime, sum of module self times, median)")
    print("   import main: {main_import_ms:.0f} ms (process {main_process_ms:.0f} ms)".format(**s))
    print("   import functions_framework: {functions_framework_import_ms:.0f} ms (process {functions_framework_process_ms:.0f} ms)".format(**s))
    print("   ratio main/functions_framework {ratio:.2f}; heavy client libraries imported by main: {}".format(
        ", ".join(s["heavy_imported"]) or "none", **s))


if __name__ == "__main__":
    main()
