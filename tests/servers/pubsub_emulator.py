"""The official Pub/Sub emulator, started and stopped by the tests themselves (by pid), one per session.

Started straight from its jar under the Cloud SDK root (platform/pubsub-emulator/lib), in its own
process group, on a free port (`--port=0` does not work; a busy port hangs, so readiness is timed out);
ready when GET / answers 200. It keeps push_config with oidc_token on create/get/list. `POST /reset`
clears it between tests. google-cloud-pubsub honours PUBSUB_EMULATOR_HOST
(https://cloud.google.com/pubsub/docs/emulator#env).
"""

from __future__ import annotations

import atexit
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.servers.processes import ServerFailed, find_sdk_jar, java_and_jar, free_port, stop_process_group, wait_for_http

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PubSubEmulator:
    host: str
    """host:port, the value of PUBSUB_EMULATOR_HOST."""
    pid: int

    def reset(self) -> None:
        request = urllib.request.Request(f"http://{self.host}/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 200:
                raise RuntimeError(f"emulator reset answered HTTP {answer.status}")


def find_pubsub_jar() -> tuple[Path | None, str]:
    return find_sdk_jar("platform/pubsub-emulator/lib", "cloud-pubsub-emulator-*.jar", name="Pub/Sub emulator",
                        package="google-cloud-cli-pubsub-emulator")


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulator]:
    java, jar = java_and_jar(find_pubsub_jar(), what="Pub/Sub emulator")
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="pubsub-emulator-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [java, "-jar", str(jar), "--host=127.0.0.1", f"--port={port}"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    atexit.register(stop_process_group, process)
    try:
        wait_for_http(process, f"http://127.0.0.1:{port}/", timeout_s=READY_TIMEOUT_S, name="the Pub/Sub emulator")
    except ServerFailed as error:
        raise ServerFailed(f"{error}; its log: {Path(log.name).read_text(errors='replace')[-2000:]}") from None
    try:
        yield PubSubEmulator(host=f"127.0.0.1:{port}", pid=process.pid)
    finally:
        stop_process_group(process)


@pytest.fixture
def pubsub_env(pubsub_emulator: PubSubEmulator, monkeypatch: pytest.MonkeyPatch) -> PubSubEmulator:
    """PUBSUB_EMULATOR_HOST set for this test, and an empty emulator."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    pubsub_emulator.reset()
    return pubsub_emulator
