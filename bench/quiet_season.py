"""Quiet by construction (issue 19): notices per healthy day (target 0) and per broken day, on the demo's season.

    .venv/bin/python bench/quiet_season.py [--history-days 60] [--off-season-days 10] [--sweep]

The demo pipeline (demo.pipeline.build_demo) with `--history-days` healthy days, the first
`--off-season-days` of them without games and about one in eleven of the rest without games, then the
broken day; every replayable monitor on, the raw-table checks as the demo turns them on (the values
canary.toml ships commented out). One replay of the whole range at 30-minute ticks, then the notices
per league-local day, by kind of day. The same replay with the thresholds tightened shows the proof can
fail. `--sweep` replays freshness alone for each due time and warn_after it lists: how the shipped
values were chosen (docs/replay.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import DEFAULT_CONFIG_PATH, CanaryConfig  # noqa: E402
from demo.pipeline import DEMO_MONITORS, build_demo, write_demo  # noqa: E402
from entry.cli import with_demo_checks  # noqa: E402
from monitors.base import Sources  # noqa: E402
from monitors.registry import MONITORS  # noqa: E402
from run.configure import load_config  # noqa: E402
from run.replay import ReplayReport, ReplayRequest, notices_by_day, replay  # noqa: E402
from sources.duckdb_warehouse import DuckDbWarehouse  # noqa: E402
from sources.iam_file import IamPolicyFile  # noqa: E402
from sources.push_files import PushChainFiles  # noqa: E402
from sources.tables import SCHEDULE  # noqa: E402

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
"""18:30 league-local on the broken day (a fixed moment: the figures do not move with the clock)."""


def with_freshness(config: CanaryConfig, **changes: Any) -> CanaryConfig:
    """The demo's raw-table checks with `changes` applied to every freshness table."""
    monitors = dict(config.monitors)
    tables = [{**table, **changes} for table in DEMO_MONITORS["freshness"]["tables"]]
    monitors["freshness"] = MONITORS["freshness"].config_model.model_validate({"tables": tables})
    return config.model_copy(update={"monitors": monitors})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history-days", type=int, default=60)
    parser.add_argument("--off-season-days", type=int, default=10)
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    config = with_demo_checks(load_config(DEFAULT_CONFIG_PATH))
    pipeline = build_demo(
        now=NOW, zone=config.zone, services=config.pipeline.services,
        push_member=config.monitors["orchestrator_iam"].member, history_days=args.history_days,
        off_season_days=args.off_season_days, project=config.pipeline.project, region=config.pipeline.region,
    )
    first, today = pipeline.today - timedelta(days=args.history_days), pipeline.today
    games = {row["game_date"] for row in pipeline.rows[SCHEDULE] if row["game_status"] != "postponed"}
    days = [first + timedelta(days=n) for n in range(args.history_days)]
    kinds = {
        "healthy, with games": [d for d in days if d in games],
        "healthy, without games": [d for d in days[args.off_season_days:] if d not in games],
        "healthy, off-season": days[: args.off_season_days],
        "broken": [today],
    }
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        write_demo(pipeline, Path(folder))
        print(f"demo season: {args.history_days} healthy days from {first} ({args.off_season_days} off-season), "
              f"then {today} broken; written in {time.perf_counter() - started:.1f} s\n")
        sources = Sources(warehouse=DuckDbWarehouse(path=Path(folder) / "warehouse.duckdb"),
                          iam=IamPolicyFile(path=Path(folder) / "iam_policies.json"), push=PushChainFiles(folder=Path(folder)))

        def run(cfg: CanaryConfig, monitors: tuple[str, ...] | None = None) -> ReplayReport:
            request = ReplayRequest(first=first, last=today, every=timedelta(minutes=30), monitors=monitors)
            return replay(cfg, sources, request)

        shipped = run(config)
        print(f"shipped thresholds, every replayable monitor ({', '.join(shipped.replayed)}): "
              f"{shipped.ticks:,} ticks in {shipped.duration_ms / 1000:.1f} s")
        show(shipped, kinds, config)
        tight = run(with_freshness(config, due_local="05:00", warn_after="30m", error_after="1h"))
        print("\ntightened (every freshness table due 05:00, warn_after 30m, error_after 1h):")
        show(tight, kinds, config)
        if args.sweep:
            sweep(run, config, kinds)


def show(report: ReplayReport, kinds: dict[str, list[date]], config: CanaryConfig) -> None:
    per_day = notices_by_day(report, config.zone)
    for kind, days in kinds.items():
        total = sum(per_day[d] for d in days)
        worst = max((per_day[d] for d in days), default=0)
        print(f"  {kind:<24} {len(days):>3} day(s): {total:>4} notice(s), {total / max(len(days), 1):.2f} per day "
              f"(most on one day: {worst})")
    for m in report.monitors:
        print(f"    {m.monitor}: {m.incidents} incident(s), {m.notices} notice(s)")


def sweep(run: Any, config: CanaryConfig, kinds: dict[str, list[date]]) -> None:
    """Freshness alone, one table at a time, for each due time and warn_after: notices on healthy days."""
    healthy = [d for kind, days in kinds.items() if kind != "broken" for d in days]
    print("\nsweep: notices on the healthy days, freshness alone, per table (due_local x warn_after)")
    for table in DEMO_MONITORS["freshness"]["tables"]:
        cells = []
        for due in ("05:00", "06:00", "07:00", "09:00", "12:00"):
            for warn in ("30m", "1h"):
                one = {"tables": [{**table, "due_local": due, "warn_after": warn, "error_after": "6h"}]}
                monitors = {**config.monitors, "freshness": MONITORS["freshness"].config_model.model_validate(one)}
                cfg = config.model_copy(update={"monitors": monitors})
                per_day = notices_by_day(run(cfg, ("freshness",)), config.zone)
                cells.append(f"{due}+{warn}: {sum(per_day[d] for d in healthy)}")
        print(f"  {table['table']} (shipped {table['due_local']}+{table['warn_after']}): " + ", ".join(cells))


if __name__ == "__main__":
    main()
