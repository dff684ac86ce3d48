"""Helpers for tests that start a real local server as a child process: a free port, readiness, stop by pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServerFailed(RuntimeError):
    """The server exited or never answered; the message says which and how long it was given."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_http(process: subprocess.Popen[bytes], url: str, *, timeout_s: float, name: str) -> float:
    """Poll `url` until it answers 200; seconds waited. Raises ServerFailed if the process exits or time runs out."""
    started = time.perf_counter()
    while True:
        if process.poll() is not None:
            raise ServerFailed(f"{name} exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, OSError):
            pass
        if time.perf_counter() - started > timeout_s:
            stop_process_group(process)
            raise ServerFailed(f"{name} did not answer {url} within {timeout_s:g} s")
        time.sleep(0.05)


def stop_process_group(process: subprocess.Popen[bytes], *, grace_s: float = 10) -> None:
    """SIGTERM the process group of a child started with start_new_session=True, then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def find_sdk_jar(folder: str, pattern: str, *, name: str, package: str) -> tuple[Path | None, str]:
    """A jar under the Cloud SDK root's `folder` (e.g. platform/pubsub-emulator/lib), or None and why not."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None, f"gcloud is not installed, so the {name} jar cannot be located"
    try:
        answer = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"`gcloud info` failed ({error}), so the {name} jar cannot be located"
    jars = sorted((Path(answer.stdout.strip()) / folder).glob(pattern))
    if not jars:
        return None, f"no {name} jar in {Path(answer.stdout.strip()) / folder} (install {package})"
    return jars[0], ""


def java_and_jar(found: tuple[Path | None, str], *, what: str) -> tuple[str, Path]:
    """The java binary and the emulator's jar, or skip the test saying which is missing."""
    import pytest

    java = shutil.which("java")
    if java is None:
        pytest.skip(f"{what} tests need Java (apt-get install openjdk-17-jre-headless)")
    jar, why = found
    if jar is None:
        pytest.skip(why)
    return java, jar
