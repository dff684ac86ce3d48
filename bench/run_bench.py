"""Benchmarks that print figures (never asserted in tests): concurrency, cost against history, cold start.

    .venv/bin/python bench/run_bench.py [--latency 0.3] [--repeat 7] [--only concurrency,history,cold_start,replay]

1. Concurrency: every external call (Warehouse.query, IamPolicies.get) slowed by the same injected
   latency; a whole run against its slowest monitor (target run/slowest <= 1.5).
2. Cost against history: run time on the demo history (7 days) and on a 10x longer one (70 days),
   DuckDB backend (target ratio <= 1.3); warehouse jobs per run.
3. Cold start: `python -X importtime -c "import main"` against functions_framework alone.
4. Replay: `main.py replay` of a 180-day demo history at 30-minute ticks (target <= 10 s), its
   growth from 30 to 180 days, and the ratio against looping `main.py run --now T` over a sample.

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
from datetime import datetime
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
            push=canary.sources.push, scheduler=canary.sources.scheduler, audit=canary.sources.audit,
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


def replay_canary(workdir: Path, days: int) -> tuple[Canary, Any]:
    """The demo with `days` game days in all (the broken one last)."""
    return demo_canary(workdir, days - 1)


def bench_replay(sample: int, repeat: int) -> dict[str, Any]:
    from datetime import timedelta

    from run.replay import ReplayRequest, replay

    figures: dict[str, Any] = {"growth": []}
    with tempfile.TemporaryDirectory() as tmp:
        canary, now = replay_canary(Path(tmp), 180)
        config = canary.config
        today = now.astimezone(config.zone).date()
        replay(config, canary.sources, ReplayRequest(first=today, last=today, every=timedelta(minutes=30)))  # warm
        for days in (30, 60, 120, 180):
            request = ReplayRequest(first=today - timedelta(days=days - 1), last=today, every=timedelta(minutes=30))
            jobs, times = canary.sources.warehouse.jobs, []
            for _ in range(repeat):
                started = time.perf_counter()
                report = replay(config, canary.sources, request)
                times.append(time.perf_counter() - started)
            figures["growth"].append({
                "days": days, "ticks": report.ticks, "s": statistics.median(times),
                "jobs": (canary.sources.warehouse.jobs - jobs) / repeat, "incidents": len(report.incidents),
                "notices": len(report.notices),
            })
        full = figures["growth"][-1]
        # The alternative: `main.py run --now T` once per tick (dry runs, so the sample shares no state).
        step = max(1, full["ticks"] // sample)
        start = datetime.combine(today - timedelta(days=179), datetime.min.time(), tzinfo=config.zone)
        ticks = [start + timedelta(minutes=30 * i) for i in range(0, full["ticks"], step)][:sample]
        env = {**os.environ, "CANARY_BACKEND": "local", "CANARY_LOCAL_DIR": tmp}
        walls = []
        for tick in ticks:
            began = time.perf_counter()
            subprocess.run([sys.executable, "main.py", "run", "--dry-run", "--json", "--now", tick.isoformat()], cwd=ROOT,
                           env=env, capture_output=True, check=True)
            walls.append(time.perf_counter() - began)
        inproc = []
        for index, tick in enumerate(ticks):
            began = time.perf_counter()
            execute(canary, RunRequest(run_id=f"bench-replay-{index}", now=tick, dry_run=True))
            inproc.append(time.perf_counter() - began)
    figures["cli_tick_s"] = statistics.median(walls)
    figures["cli_loop_s"] = figures["cli_tick_s"] * full["ticks"]
    figures["inproc_tick_s"] = statistics.median(inproc)
    figures["inproc_loop_s"] = figures["inproc_tick_s"] * full["ticks"]
    figures["sample"] = len(ticks)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds added to every external call")
    parser.add_argument("--repeat", type=int, default=7, help="runs per figure (the median is printed)")
    parser.add_argument("--only", default="concurrency,history,cold_start,replay", help="comma-separated sections to run")
    args = parser.parse_args()
    sections = set(args.only.split(","))
    print(f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), Python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}")

    if "concurrency" in sections:
        c = bench_concurrency(args.latency, args.repeat)
        print("\n1. concurrency (every external call +{latency_s:g} s; 2 queries + 3 IAM reads = {sum_if_serial_s:.1f} s if serial)".format(**c))
        print("   whole run {run_s:.3f} s, slowest monitor {slowest_monitor_s:.3f} s, ratio run/slowest {ratio:.2f} (target <= 1.5)".format(**c))

    if "history" in sections:
        bench_history_section(args.repeat)
    if "cold_start" in sections:
        bench_cold_start_section(args.repeat)
    if "replay" in sections:
        bench_replay_section(sample=max(3, args.repeat), repeat=max(3, args.repeat // 2))


def bench_history_section(repeat: int) -> None:
    h = bench_history(repeat)
    print("\n2. cost against history (DuckDB, dry runs, median of {} runs)".format(repeat))
    print("   7 days  ({rows_7d:,} rows): {run_7d_s:.3f} s, {jobs_per_run_7d:g} warehouse jobs per run".format(**h))
    print("   70 days ({rows_70d:,} rows): {run_70d_s:.3f} s, {jobs_per_run_70d:g} warehouse jobs per run".format(**h))
    print("   ratio 70d/7d {ratio:.2f} (target <= 1.3)".format(**h))


def bench_cold_start_section(repeat: int) -> None:
    s = bench_cold_start(max(3, repeat // 2))
    print("\n3. cold start (python -X importtime, sum of module self times, median)")
    print("   import main: {main_import_ms:.0f} ms (process {main_process_ms:.0f} ms)".format(**s))
    print("   import functions_framework: {functions_framework_import_ms:.0f} ms (process {functions_framework_process_ms:.0f} ms)".format(**s))
    print("   ratio main/functions_framework {ratio:.2f}; heavy client libraries imported by main: {}".format(
        ", ".join(s["heavy_imported"]) or "none", **s))


def bench_replay_section(sample: int, repeat: int) -> None:
    r = bench_replay(sample, repeat)
    print("\n4. replay (DuckDB, demo history, 30-minute ticks, one warehouse query per monitor; median of {} replays)".format(repeat))
    for g in r["growth"]:
        print("   {days:>3} days: {ticks:>5,} ticks in {s:.2f} s ({per_tick:.3f} ms per tick), {jobs:g} warehouse jobs, "
              "{incidents} incidents, {notices} notices".format(per_tick=g["s"] / g["ticks"] * 1000, **g))
    full, first = r["growth"][-1], r["growth"][0]
    print("   180 days: {:.2f} s (target <= 10 s); growth 30 -> 180 days: time x{:.2f} for ticks x{:.2f}".format(
        full["s"], full["s"] / first["s"], full["ticks"] / first["ticks"]))
    print("   looping `main.py run --now T` (subprocess, median of {sample} sampled ticks): {cli_tick_s:.2f} s per tick, "
          "{cli_loop_s:,.0f} s for every tick: replay is {ratio:,.0f}x faster".format(ratio=r["cli_loop_s"] / full["s"], **r))
    print("   looping execute() in one process: {inproc_tick_s:.3f} s per tick, {inproc_loop_s:,.0f} s for every tick: "
          "replay is {ratio:,.0f}x faster".format(ratio=r["inproc_loop_s"] / full["s"], **r))


if __name__ == "__main__":
    main()
