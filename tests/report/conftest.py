"""Headless Chromium for the report tests: Debian's `chromium`, installed on demand."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a chromium binary. Installs Debian's package when missing (the project's test setup,
    as `make test` runs as root on the dev machines); skips with the reason only when that is impossible."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get): apt-get install -y chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        r = subprocess.run(["sh", "-c", "apt-get update -q && apt-get install -y -q chromium"], capture_output=True, text=True, env=env, timeout=900)
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"installing chromium failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    return found


@pytest.fixture
def run_chromium(chromium, tmp_path):
    """run_chromium(url, *extra_flags) -> CompletedProcess: headless, offline-safe flags, a fresh profile."""

    def run(url: str, *extra: str, timeout: int = 120):
        profile = tmp_path / "chromium-profile"
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    return run
