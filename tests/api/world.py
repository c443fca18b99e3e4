"""The API tests' world and server (fixtures, imported by conftest.py): a small built world (the rules scenario of tests/dbt, real loader and
dbt), and the real `omni-inventory api` served by uvicorn in a subprocess on a free 127.0.0.1 port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.dbt.landing_files import RULES_BATCH_1
from tests.support.dbt import OWN_MODELS, deliver

CLI = str(Path(sys.executable).with_name("omni-inventory"))
# The inventory and availability marts, plus the two ops marts the API and the feed touch.
WORLD_MODELS = (*OWN_MODELS, "feed_latency", "allocation_accuracy")
LISTINGS: dict[str, str] = {
    "channel/WEB/listings/listings_1000.csv": """
channel_id,sku,published_qty,snapshot_ts
WEB,A,40,2024-05-01T10:00:00
WEB,B,1,2024-05-01T10:00:00
""",
}


@dataclass
class World:
    url: str
    landing: Path
    home: Path
    dbt: Callable[..., object]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNI_", "DAGSTER_"))}
        env.update(OMNI_DATABASE_URL=self.url, OMNI_HOME=str(self.home), OMNI_LANDING_DIR=str(self.landing))
        env.update(extra)
        return env

    def build(self) -> None:
        result = self.dbt("run", *WORLD_MODELS)
        assert result.success, result.exception

    def deliver_and_build(self, files: dict[str, str]) -> None:
        deliver(self.url, self.landing, files)
        self.build()

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args], env=self.env(**extra_env), capture_output=True, text=True, timeout=120
        )


@pytest.fixture(scope="module")
def world(
    module_db: str,
    module_landing: Path,
    make_dbt: Callable[[str], Callable[..., object]],
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    built = World(module_db, module_landing, tmp_path_factory.mktemp("omni_home"), make_dbt(module_db))
    built.deliver_and_build({**RULES_BATCH_1, **LISTINGS})
    return built


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[str]

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": key} if key else {}, timeout=10)


@pytest.fixture(scope="module")
def server(world: World) -> Iterator[Server]:
    """`omni-inventory api --port N` itself, ready once /openapi.json answers."""
    port = free_port()
    process = subprocess.Popen(
        [CLI, "api", "--port", str(port)],
        env=world.env(OMNI_API_RATE_LIMIT="1000"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, f"the API exited: {process.stdout.read() if process.stdout else ''}"
        try:
            if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API did not start in 60 s"
        time.sleep(0.1)
    yield Server(base, process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
