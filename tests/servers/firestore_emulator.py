"""The official Cloud Firestore emulator, started and stopped by the tests themselves (by pid).

Started straight from its jar (not `gcloud emulators firestore start`, whose wrapper leaves the Java
child running when only the wrapper is stopped), in its own process group, on a free port; readiness is
an HTTP GET on that port answering "Ok". Data is reset between tests with the emulator's documented
DELETE on /emulator/v1/projects/P/databases/(default)/documents
(https://cloud.google.com/firestore/docs/emulator#clear_emulator_data).

Import both fixtures into a test module: `from tests.servers.firestore_emulator import firestore_emulator, firestore_env`.
The process is shared by every module that imports them (started once, stopped after the last user).
"""

from __future__ import annotations

import atexit
import subprocess
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.servers.processes import ServerFailed, find_sdk_jar, java_and_jar, free_port, stop_process_group, wait_for_http

PROJECT = "canary-test"
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class FirestoreEmulator:
    host: str
    """host:port, the value of FIRESTORE_EMULATOR_HOST."""
    project: str
    pid: int
    started_in_s: float

    def reset(self) -> None:
        """Delete every document of the test project (the emulator's own reset endpoint)."""
        url = f"http://{self.host}/emulator/v1/projects/{self.project}/databases/(default)/documents"
        with urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=10) as answer:
            if answer.status != 200:
                raise RuntimeError(f"emulator reset answered HTTP {answer.status}")


def find_emulator_jar() -> tuple[Path | None, str]:
    """The emulator's jar under the Cloud SDK root, or None and why not."""
    return find_sdk_jar("platform/cloud-firestore-emulator", "*.jar", name="Firestore emulator",
                        package="google-cloud-cli-firestore-emulator")


def _start(jar: Path, java: str) -> tuple[FirestoreEmulator, subprocess.Popen[bytes]]:
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="firestore-emulator-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [java, "-cp", str(jar), MAIN_CLASS, "start", "--host=127.0.0.1", f"--port={port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so killpg reaches every child
    )
    atexit.register(stop_process_group, process)  # a safety net if the session ends without its teardown
    try:
        waited = wait_for_http(process, f"http://127.0.0.1:{port}/", timeout_s=READY_TIMEOUT_S, name="the Firestore emulator")
    except ServerFailed as error:
        raise ServerFailed(f"{error}; its log: {Path(log.name).read_text(errors='replace')[-2000:]}") from None
    return FirestoreEmulator(host=f"127.0.0.1:{port}", project=PROJECT, pid=process.pid, started_in_s=waited), process


class _Shared:
    """One emulator for the whole session, however many test modules import the fixture."""

    lock = threading.Lock()
    users = 0
    emulator: FirestoreEmulator | None = None
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def acquire(cls, jar: Path, java: str) -> FirestoreEmulator:
        with cls.lock:
            if cls.emulator is None:
                cls.emulator, cls.process = _start(jar, java)
            cls.users += 1
            return cls.emulator

    @classmethod
    def release(cls) -> None:
        with cls.lock:
            cls.users -= 1
            if cls.users == 0 and cls.process is not None:
                stop_process_group(cls.process)
                cls.emulator, cls.process = None, None


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    java, jar = java_and_jar(find_emulator_jar(), what="Firestore emulator")
    emulator = _Shared.acquire(jar, java)
    try:
        yield emulator
    finally:
        _Shared.release()


@pytest.fixture
def firestore_env(firestore_emulator: FirestoreEmulator, monkeypatch: pytest.MonkeyPatch) -> FirestoreEmulator:
    """FIRESTORE_EMULATOR_HOST set for this test, and an empty database."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore_emulator.host)
    firestore_emulator.reset()
    return firestore_emulator
