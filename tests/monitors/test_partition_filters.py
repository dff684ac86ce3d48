"""Cost does not grow with history: every warehouse query bounds the game_date partition of every table
it reads (checked statically with sqlglot's BigQuery parser), and a run costs one job per warehouse monitor."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from demo.pipeline import DEMO_MONITORS
from monitors.data_checks import Window, union_query
from monitors.registry import MONITORS
from sources.tables import PARTITION_COLUMN, TABLES, with_dataset_prefix
from tests.scenario import local
from tests.servers.stacks import default_config, local_stack
from tests.test_scenarios_both_backends import DAY, EVENING, pipeline


WINDOW = Window(first_date=DAY - timedelta(days=6), last_date=DAY, until=EVENING)


def monitor_queries() -> dict[str, str]:
    """Every module-level *QUERY string of every registered monitor, by 'monitor.NAME', and the query a
    configured monitor builds (its `branches`) from the demo's configuration, by 'monitor.demo'."""
    found = {}
    for name, spec in MONITORS.items():
        module = sys.modules[spec.check.__module__]
        for attribute, value in vars(module).items():
            if attribute.endswith("QUERY") and attribute.isupper() and isinstance(value, str):
                found[f"{name}.{attribute}"] = value
        if hasattr(module, "branches"):
            config = spec.config_model.model_validate(DEMO_MONITORS[name])
            found[f"{name}.demo"] = union_query(module.branches(config, WINDOW))
    return found


def _conjuncts(condition: exp.Expression | None) -> list[exp.Expression]:
    if condition is None:
        return []
    if isinstance(condition, exp.Paren):
        return _conjuncts(condition.this)
    if isinstance(condition, exp.And):
        return _conjuncts(condition.left) + _conjuncts(condition.right)
    return [condition]


def _is_partition(node: exp.Expression, alias: str) -> bool:
    return (
        isinstance(node, exp.Column)
        and node.name.lower() == PARTITION_COLUMN
        and (not node.table or node.table.lower() == alias.lower())
    )


def _bounded(value: exp.Expression) -> bool:
    """A bound must be a parameter or a constant expression, not another column."""
    return not list(value.find_all(exp.Column))


def partition_problems(sql: str) -> list[str]:
    """What is wrong with the query's partition filters; empty when every table read is bounded."""
    problems = []
    tree = sqlglot.parse_one(sql, read="bigquery")
    for scope in traverse_scope(tree):
        where = scope.expression.args.get("where") if isinstance(scope.expression, exp.Select) else None
        for alias, source in scope.selected_sources.items():
            _, table = source
            if not isinstance(table, exp.Table):
                continue  # a CTE or subquery: checked in its own scope
            name = f"{table.db}.{table.name}" if table.db else table.name
            if name not in TABLES:
                problems.append(f"{name}: not a known table (sources.tables.TABLES)")
                continue
            lower = upper = False
            for clause in _conjuncts(where.this if where else None):
                if isinstance(clause, exp.Between) and _is_partition(clause.this, alias):
                    if _bounded(clause.args["low"]) and _bounded(clause.args["high"]):
                        lower = upper = True
                elif isinstance(clause, (exp.EQ, exp.GTE, exp.GT, exp.LTE, exp.LT)):
                    left, right = clause.left, clause.right
                    if _is_partition(right, alias) and not _is_partition(left, alias):
                        left, right = right, left
                        clause = {exp.GTE: exp.LTE, exp.GT: exp.LT, exp.LTE: exp.GTE, exp.LT: exp.GT}.get(
                            type(clause), type(clause)
                        )(this=left, expression=right)
                    if not _is_partition(left, alias) or not _bounded(right):
                        continue
                    if isinstance(clause, exp.EQ):
                        lower = upper = True
                    elif isinstance(clause, (exp.GTE, exp.GT)):
                        lower = True
                    else:
                        upper = True
            if not (lower and upper):
                problems.append(f"{name}: no bounded range on {PARTITION_COLUMN} in the WHERE that reads it")
    return problems


QUERIES = monitor_queries()


def test_every_warehouse_monitor_has_a_query() -> None:
    warehouse_monitors = {name for name, spec in MONITORS.items() if spec.reads == "warehouse"}
    assert warehouse_monitors and warehouse_monitors <= {key.split(".")[0] for key in QUERIES}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_bounds_the_partition_of_every_table(name: str) -> None:
    assert partition_problems(QUERIES[name]) == []


@pytest.mark.parametrize(
    "sql, problem",
    [
        ("SELECT * FROM nba_reference.nba_schedule WHERE game_status = 'final'", "nba_reference.nba_schedule"),
        ("SELECT * FROM nba_reference.nba_schedule WHERE game_date >= @start", "nba_reference.nba_schedule"),
        ("SELECT * FROM nba_reference.nba_schedule WHERE game_date = @d OR game_id = 'x'", "nba_reference.nba_schedule"),
        ("SELECT * FROM nba_reference.nba_schedule s WHERE s.game_date BETWEEN s.game_date AND @end", "nba_reference.nba_schedule"),
        (
            "WITH p AS (SELECT * FROM nba_predictions.player_prop_predictions) "
            "SELECT * FROM nba_reference.nba_schedule s JOIN p USING (game_id) WHERE s.game_date = @d",
            "nba_predictions.player_prop_predictions",
        ),
        (
            "SELECT * FROM nba_reference.nba_schedule s JOIN nba_predictions.player_prop_predictions p "
            "ON p.game_id = s.game_id WHERE s.game_date = @d",
            "nba_predictions.player_prop_predictions",
        ),
    ],
)
def test_the_check_catches_unbounded_reads(sql: str, problem: str) -> None:
    problems = partition_problems(sql)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_the_check_accepts_the_bounded_forms() -> None:
    for where in ("game_date = @d", "game_date BETWEEN @a AND @b", "game_date >= @a AND game_date <= @b",
                  "@a <= game_date AND game_date < DATE_ADD(@a, INTERVAL 2 DAY) AND phase = 'x'"):
        assert partition_problems(f"SELECT * FROM nba_orchestration.phase_completions WHERE {where}") == [], where


def _tables(sql: str) -> set[tuple[str, str]]:
    tree = sqlglot.parse_one(sql, read="bigquery")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {(t.db, t.name) for t in tree.find_all(exp.Table) if t.name not in ctes}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_no_query_names_a_dataset_without_the_prefix(name: str) -> None:
    """What every adapter sends: each table the query reads, and only those, in its prefixed dataset."""
    original = _tables(QUERIES[name])
    assert original and all(db for db, _ in original), original  # a table without a dataset could not be staged
    staged = _tables(with_dataset_prefix(QUERIES[name], "test_"))
    assert staged == {(f"test_{db}", table) for db, table in original}


def test_a_table_named_without_its_dataset_cannot_be_staged() -> None:
    with pytest.raises(ValueError, match="nba_schedule: a table named without its dataset"):
        with_dataset_prefix("SELECT * FROM nba_schedule WHERE game_date = @d", "test_")
    cte = "WITH g AS (SELECT * FROM nba_reference.nba_schedule WHERE game_date = @d) SELECT * FROM g"
    assert _tables(with_dataset_prefix(cte, "test_")) == {("test_nba_reference", "nba_schedule")}
    assert with_dataset_prefix(cte, "") == cte


def test_one_warehouse_job_per_warehouse_monitor_whatever_the_dates_and_transitions(tmp_path: Path) -> None:
    """Lookback of 7 days and 4 transitions still cost one phase_stalls query, six tables one freshness query and
    three checks one volume query; history does not add jobs."""
    scenario = pipeline()
    for back in range(1, 30):
        day = DAY - timedelta(days=back)
        scenario.phase_complete(day, "phase_2_raw", local(day, "06:30"))
    config = default_config(monitors={"phase_stalls": {"lookback_days": 7}, **DEMO_MONITORS})
    stack = local_stack(tmp_path / "local", config)
    stack.load(scenario)
    warehouse = stack.canary.sources.warehouse
    report = stack.run(EVENING)
    warehouse_monitors = [name for name, spec in MONITORS.items() if spec.reads == "warehouse"]
    assert all(m.outcome.value != "error" for m in report.monitors)
    assert {m.name for m in report.monitors} >= {"freshness", "volume"}
    assert warehouse.jobs == len(warehouse_monitors) == 4
    stack.run(EVENING, monitors=("phase_stalls",))
    assert warehouse.jobs == 5
