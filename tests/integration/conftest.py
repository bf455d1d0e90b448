"""Real services for the integration tests: a `langgraph dev` server and a PostgreSQL cluster.

Both are started once per session on free loopback ports, write their logs and data to temp
dirs outside the repo, and are stopped at the end. Their start-up times are shown in the
pytest summary.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_S = 60.0
SKIP_POSTGRES_ENV = "PARALLEL_TIERS_SKIP_POSTGRES"

#: Start-up times measured in this session, shown at the end of the run.
STARTUP_S: dict[str, float] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, seconds in STARTUP_S.items():
        terminalreporter.write_line(f"{name} started in {seconds:.2f} s")


# --- LangGraph server ---------------------------------------------------------------------


@dataclass
class Server:
    url: str
    log: Path
    start_s: float


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/ok", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def repo_config() -> dict[str, Any]:
    """The repo's langgraph.json with absolute paths (the server runs in a temp dir)."""
    config = json.loads((ROOT / "langgraph.json").read_text())
    config["dependencies"] = [str(ROOT)]
    for entry in config["graphs"].values():
        entry["path"] = str(ROOT / entry["path"])
    if "app" in config.get("http", {}):
        config["http"]["app"] = str(ROOT / config["http"]["app"])
    return config


@contextmanager
def langgraph_dev(
    workdir: Path, config: dict[str, Any], name: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run `langgraph dev` on `config` in `workdir` until the block ends.

    The server runs in a temp dir: its state (.langgraph_api/) and log stay out of the repo (a
    file written inside the project would also trigger reloads), and every session starts
    clean. Its start-up time is shown in the pytest summary under `name`.
    """
    config_path = workdir / "langgraph.json"
    config_path.write_text(json.dumps(config, indent=2))
    log = workdir / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).parent / "langgraph"),
        "dev",
        "--no-browser",
        "--no-reload",
        "--port",
        str(port),
        "--config",
        str(config_path),
    ]
    full_env = {
        **os.environ,
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        **(env or {}),
    }
    with log.open("wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=full_env
        )
    try:
        while not _answers_ok(url):
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
            if time.perf_counter() - started > SERVER_START_TIMEOUT_S:
                pytest.fail(f"{name} gave no /ok in {SERVER_START_TIMEOUT_S} s:\n{_tail(log)}")
            time.sleep(0.1)
        STARTUP_S[f"{name} (/ok)"] = time.perf_counter() - started
        yield Server(url=url, log=log, start_s=STARTUP_S[f"{name} (/ok)"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`langgraph dev` serving the repo's graphs plus the test-only `hung_retriever` and
    `big_passage`."""
    config = repo_config()
    config["graphs"]["hung_retriever"] = {
        "path": f"{ROOT / 'tests/integration/hung_graph.py'}:graph",
        "description": "Test only: mode 2 whose retriever never answers.",
    }
    config["graphs"]["big_passage"] = {
        "path": f"{ROOT / 'tests/integration/hostile_graph.py'}:graph",
        "description": "Test only: mode 2 whose retriever returns a 300 KB passage.",
    }
    with langgraph_dev(tmp_path_factory.mktemp("langgraph-dev"), config, "langgraph dev") as s:
        yield s


# --- Persistence backends ---------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend, location): a fresh SQLite folder, or the session's PostgreSQL URI."""
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_uri")
    return request.param, str(tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def durable_backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(backend, location) of a backend that outlives the process: SQLite or PostgreSQL."""
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("postgres_uri")
    return "sqlite", str(tmp_path)


def unique(prefix: str) -> str:
    """Ids never reused across tests (the PostgreSQL database is shared by the session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- PostgreSQL ---------------------------------------------------------------------------


def postgres_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (newest version under /usr/lib/postgresql)."""

    def version(initdb: Path) -> int:
        name = initdb.parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its commands as the `postgres` user then."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; its connection URI."""
    if os.environ.get(SKIP_POSTGRES_ENV) == "1":
        pytest.skip(f"{SKIP_POSTGRES_ENV}=1")
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.fail(
            "PostgreSQL is not installed: no initdb under /usr/lib/postgresql/*/bin nor on "
            "PATH. Install it (`apt-get install -y postgresql`; .ci/run does) or set "
            f"{SKIP_POSTGRES_ENV}=1 to skip the PostgreSQL tests."
        )
    base = Path(tempfile.mkdtemp(prefix="parallel-tiers-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres", group="postgres")
    data, port = base / "data", free_port()
    started = time.perf_counter()
    _run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]))
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    pg_ctl = [str(bin_dir / "pg_ctl"), "-D", str(data)]
    _run(_as_postgres([*pg_ctl, "-o", options, "-l", str(base / "postgres.log"), "-w", "start"]))
    STARTUP_S["PostgreSQL cluster (initdb + start)"] = time.perf_counter() - started
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([*pg_ctl, "-m", "fast", "-w", "stop"]), capture_output=True, check=False
        )
        shutil.rmtree(base, ignore_errors=True)


# --- LangGraph server with custom auth ----------------------------------------------------

#: The two callers of the auth server: name -> (tenant, user).
AUTH_USERS = {"ann": ("A", "ann"), "bob": ("B", "bob")}


@dataclass
class AuthServer(Server):
    tokens: dict[str, str]
    """Bearer token of each caller of `AUTH_USERS`."""


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    """`langgraph dev` serving the repo's graphs with `parallel_tiers.auth` turned on.

    The config is the repo's langgraph.json plus `"auth"` (as the README shows), and the
    server's environment holds a token for tenant A's user ann and one for tenant B's bob.
    """
    import secrets

    from parallel_tiers.auth import TOKENS_ENV

    config = repo_config()
    config["auth"] = {"path": f"{ROOT / 'src/parallel_tiers/auth.py'}:auth"}
    tokens = {name: f"test-{name}-{secrets.token_urlsafe(16)}" for name in AUTH_USERS}
    mapping = {
        tokens[name]: {"tenant": tenant, "user": user}
        for name, (tenant, user) in AUTH_USERS.items()
    }
    workdir = tmp_path_factory.mktemp("langgraph-dev-auth")
    env = {TOKENS_ENV: json.dumps(mapping)}
    with langgraph_dev(workdir, config, "langgraph dev with auth", env) as s:
        yield AuthServer(url=s.url, log=s.log, start_s=s.start_s, tokens=tokens)
