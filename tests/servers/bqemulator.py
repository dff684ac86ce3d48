"""A real local BigQuery: bqemulator 1.4.0 (DuckDB-backed) in its own venv, run as a subprocess.

bqemulator pins its own protobuf and sqlglot and ships a pytest plugin that breaks pytest without
testcontainers, so it never enters the project's venv: the first test session creates
`.venv-bqemulator/` beside `.venv/` (gitignored by `.venv-*`) with `pip install bqemulator==1.4.0 numpy`
and reuses it afterwards. Offline, its engine start tries to download DuckDB's `spatial` (required)
and `avro` (best effort) extensions; a small launcher skips both loads at runtime (GEOGRAPHY and Avro
are not used here), without editing site-packages.

The canary's BigQueryWarehouse talks to it over real HTTP with the official google-cloud-bigquery
client (`CANARY_BIGQUERY_ENDPOINT`). Scenarios are loaded with that same client: datasets and tables
with the production schemas (sources.tables.TABLES, partitioned by game_date), rows as NDJSON through
`load_table_from_file` (`load_table_from_json` is broken on bqemulator).
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from sources.tables import PARTITION_COLUMN, RAW_TABLES, TABLES, prefixed_table

PROJECT_ROOT = Path(__file__).resolve().parents[2]
VENV = PROJECT_ROOT / ".venv-bqemulator"
REQUIREMENTS = ("bqemulator==1.4.0", "numpy")
READY_TIMEOUT_S = 60.0

LAUNCHER = '''\
"""Start bqemulator offline: skip the DuckDB extension downloads (spatial, avro) at engine start."""
import sys

from bqemulator.storage import engine

engine.DuckDBEngine._load_spatial = lambda self: None            # GEOGRAPHY unused; INSTALL needs the network
engine.DuckDBEngine._load_format_extensions = lambda self: None  # Avro unused; same

from bqemulator.config import Settings
from bqemulator.server import run_forever

run_forever(Settings(rest_host="127.0.0.1", rest_port=int(sys.argv[1]), grpc_host="127.0.0.1", grpc_port=0,
                     enable_format_extensions=False))
'''


def say(config: pytest.Config, line: str) -> None:
    """A line in the test output whatever the capture mode (-s or not)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class VenvInfo:
    python: Path
    created_seconds: float | None
    """How long creating the venv took in this session; None when it was already there."""


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> VenvInfo:
    """Create `.venv-bqemulator` once (pip install from PyPI); a file lock keeps parallel sessions out."""
    marker = VENV / ".canary-ready"
    wanted = " ".join(REQUIREMENTS)
    lock_path = PROJECT_ROOT / ".venv-bqemulator.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == wanted and _venv_python().exists():
            return VenvInfo(python=_venv_python(), created_seconds=None)
        started = time.perf_counter()
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            [str(_venv_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                pytest.fail(
                    f"cannot create the bqemulator venv: {' '.join(step)} exited {done.returncode}\n"
                    f"{(done.stdout + done.stderr)[-3000:]}",
                    pytrace=False,
                )
        marker.write_text(wanted)
        return VenvInfo(python=_venv_python(), created_seconds=time.perf_counter() - started)


@dataclass
class BqEmulator:
    """One running bqemulator process; `endpoint` is what CANARY_BIGQUERY_ENDPOINT gets."""

    python: Path
    log_path: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float = 0.0
    _projects: int = field(default=0, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> BqEmulator:
        launcher = self.log_path.parent / "bqemulator_launcher.py"
        launcher.write_text(LAUNCHER)
        self.port = free_port()
        started = time.perf_counter()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BQEMU_", "PYTHON"))}
        env["BQEMU_LOG_LEVEL"] = "warning"
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [str(self.python), str(launcher), str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.log_path.parent,
                env=env,
                start_new_session=True,
            )
        deadline = started + READY_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"bqemulator exited {self.process.returncode} at start:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{self.endpoint}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.perf_counter() > deadline:
                self.stop()
                pytest.fail(f"bqemulator not ready after {READY_TIMEOUT_S:g}s:\n{self.log_tail()}", pytrace=False)
            time.sleep(0.1)
        self.startup_seconds = time.perf_counter() - started
        return self

    def stop(self) -> None:
        """Stop the process we started, by its pid: SIGTERM, then SIGKILL if it lingers."""
        if self.process is None or self.process.poll() is not None:
            return
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def new_project(self, prefix: str = "canary-test") -> str:
        """A fresh project id: each test loads its scenario into its own project, nothing to clean."""
        self._projects += 1
        return f"{prefix}-{os.getpid()}-{self._projects}"

    def client(self, project: str) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=project, credentials=AnonymousCredentials(), client_options={"api_endpoint": self.endpoint}
        )

    def load(self, project: str, rows_by_table: dict[str, list[dict[str, Any]]], *, dataset_prefix: str = "") -> None:
        """Create the tables (production schemas, partitioned by game_date; datasets prefixed) and load the rows."""
        load_tables(self.client(project), project, rows_by_table, dataset_prefix=dataset_prefix)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    if isinstance(value, date):
        return value.isoformat()
    return value


def load_tables(
    client: Any, project: str, rows_by_table: dict[str, list[dict[str, Any]]], *, dataset_prefix: str = ""
) -> None:
    from google.cloud import bigquery

    for source_name, columns in TABLES.items():
        if source_name in RAW_TABLES and source_name not in rows_by_table:
            continue  # the raw tables only when the scenario has them: loads stay as fast as before
        table_name = prefixed_table(source_name, dataset_prefix)
        dataset_id, table_id = table_name.split(".")
        client.create_dataset(bigquery.Dataset(f"{project}.{dataset_id}"), exists_ok=True)
        schema = [bigquery.SchemaField(name, kind) for name, kind in columns]
        table = bigquery.Table(f"{project}.{table_name}", schema=schema)
        table.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=PARTITION_COLUMN)
        client.delete_table(table, not_found_ok=True)
        client.create_table(table)
        rows = rows_by_table.get(source_name) or []
        if not rows:
            continue
        names = [name for name, _ in columns]
        ndjson = "".join(json.dumps({n: _json_value(row.get(n)) for n in names}) + "\n" for row in rows)
        job = client.load_table_from_file(
            io.BytesIO(ndjson.encode("utf-8")),
            f"{project}.{table_name}",
            job_config=bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                schema=schema,
                write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            ),
        )
        job.result(timeout=60)
        loaded = client.get_table(f"{project}.{table_name}").num_rows
        if loaded != len(rows):
            raise AssertionError(f"bqemulator loaded {loaded} rows into {table_name}, expected {len(rows)}")


BQEMULATOR_TIMINGS: dict[str, float | None] = {}
_shared: dict[str, Any] = {"emulator": None, "users": 0}


@pytest.fixture(scope="session")
def bqemulator(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[BqEmulator]:
    """One bqemulator per test session (its venv created on first use, on a fresh machine too).

    Test modules import this fixture; each import is its own session fixture to pytest, so the
    process is shared by reference count and stopped (by pid) when the last user finishes.
    """
    if _shared["emulator"] is None:
        venv = ensure_venv()
        workdir = tmp_path_factory.mktemp("bqemulator")
        emulator = BqEmulator(python=venv.python, log_path=workdir / "bqemulator.log").start()
        created = f"venv created in {venv.created_seconds:.1f} s" if venv.created_seconds is not None else "venv cached"
        say(pytestconfig, f"[bqemulator] {created}; started in {emulator.startup_seconds:.2f} s at {emulator.endpoint}")
        BQEMULATOR_TIMINGS.update(venv_seconds=venv.created_seconds, startup_seconds=emulator.startup_seconds)
        _shared["emulator"] = emulator
    _shared["users"] += 1
    try:
        yield _shared["emulator"]
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["emulator"].stop()
            _shared["emulator"] = None
