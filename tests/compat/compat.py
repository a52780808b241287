"""Helpers for meshgate's own compatibility suite (tests/compat).

Two doors to the gateway, nothing else:

* the real PyPI client code (``swarph_mesh.MeshClient``, ``swarph_shared.peer_registry``,
  the ``swarph mesh`` CLI in a subprocess), and
* raw ``httpx`` (:class:`Gateway`) only to OBSERVE effects (and, in a few tests, to
  bypass a client-side check on purpose).

No Rust crate is imported or patched: the gateway is a black box process.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import signal
import socket
import string
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional

import httpx
from swarph_mesh import MeshClient
from swarph_mesh.mesh_types import MeshPeer
from swarph_shared import peer_registry

NAME_RE = peer_registry.NAMING_CONVENTION_REGEX
KINDS = ("fyi", "question", "answer", "status", "unblock")
REPO_ROOT = Path(__file__).resolve().parents[2]
_DEFAULT = object()


# ---------------------------------------------------------------------------
# Process management
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def meshgate_bin() -> Path:
    return Path(os.environ.get("MESHGATE_BIN") or REPO_ROOT / "target" / "debug" / "meshgate")


@dataclass
class GatewayProcess:
    proc: subprocess.Popen
    url: str
    token: str
    data_dir: Path
    log_path: Path

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "<no log>"

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_gateway(binary: Path, workdir: Path, *, startup_timeout: float = 30.0) -> GatewayProcess:
    """Start ``meshgate serve`` on a free loopback port; wait for ``GET /health`` == 200."""
    token = "op-" + secrets.token_urlsafe(24)
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "meshgate.log"
    last_err: object = None
    for _attempt in range(3):  # a free port can be taken between probe and bind
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, MESH_GATEWAY_TOKEN=token)
        log = open(log_path, "ab")
        proc = subprocess.Popen(
            [str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        gp = GatewayProcess(proc, url, token, data_dir, log_path)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                last_err = f"exited with {proc.returncode}"
                break
            try:
                r = httpx.get(url + "/health", timeout=1.0)
                if r.status_code == 200:
                    return gp
                last_err = f"/health -> {r.status_code}"
            except httpx.HTTPError as exc:
                last_err = exc
            time.sleep(0.1)
        else:
            gp.stop()
            raise RuntimeError(f"meshgate did not become healthy in {startup_timeout}s "
                               f"({last_err!r}); log:\n{gp.log_tail()}")
    raise RuntimeError(f"meshgate failed to start ({last_err}); log:\n{gp.log_tail()}")


# ---------------------------------------------------------------------------
# Sync bridge for the async MeshClient (usable from sync fixtures and async tests)
# ---------------------------------------------------------------------------


def run_async(fn: Callable[[], Awaitable[Any]]) -> Any:
    box: dict[str, Any] = {}

    def runner() -> None:
        try:
            box["value"] = asyncio.run(fn())
        except BaseException as exc:  # noqa: BLE001 - re-raised in caller
            box["error"] = exc

    t = threading.Thread(target=runner, daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# ---------------------------------------------------------------------------
# Raw observation
# ---------------------------------------------------------------------------


class Gateway:
    """Raw httpx access with the operator token (fresh connection per request)."""

    def __init__(self, url: str, token: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, *, token: Any = _DEFAULT, **kw: Any) -> httpx.Response:
        tok = self.token if token is _DEFAULT else token
        headers = dict(kw.pop("headers", None) or {})
        if tok is not None:
            headers["Authorization"] = f"Bearer {tok}"
        timeout = kw.pop("timeout", self.timeout)
        with httpx.Client(base_url=self.url, timeout=timeout) as c:
            return c.request(method, path, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def inbox(self, name: str, **params: Any) -> list[dict]:
        """``GET /messages?to=<name>`` rows (operator token), as the gateway orders them."""
        q: dict[str, Any] = {"to": name, "limit": 1000}
        q.update(params)
        r = self.get("/messages", params=q)
        assert r.status_code == 200, (r.status_code, r.text[:500])
        return r.json()["messages"]

    def peer_rows(self) -> list[dict]:
        r = self.get("/peers")
        assert r.status_code == 200, (r.status_code, r.text[:500])
        return r.json()["peers"]

    def peer_row(self, name: str) -> Optional[dict]:
        return next((p for p in self.peer_rows() if p.get("name") == name), None)

    def refresh_registry(self) -> frozenset[str]:
        """Drop swarph_shared's process-wide /peers cache and refetch it from THIS gateway."""
        peer_registry._clear_cache()
        return peer_registry.canonical_names(ttl_seconds=0, gateway_url=self.url, token=self.token)

    def mint_thread(self, label: str = "t") -> str:
        r = self.post("/threads", json={"thread_name": f"compat:{label}:{uuid.uuid4().hex[:12]}"})
        assert r.status_code == 200, (r.status_code, r.text[:500])
        handle = r.json()["thread_uuid"]
        uuid.UUID(handle)
        return handle


# ---------------------------------------------------------------------------
# Names and peers
# ---------------------------------------------------------------------------


class NameFactory:
    _counter = itertools.count(1)

    def __init__(self, prefix: str = "mc"):
        self.prefix = prefix
        alphabet = string.ascii_lowercase + string.digits
        self.run_id = secrets.choice(string.ascii_lowercase) + "".join(
            secrets.choice(alphabet) for _ in range(4))

    def new(self, label: str = "p") -> str:
        label = re.sub(r"[^a-z0-9-]", "-", label.lower()).strip("-")[:16] or "p"
        name = re.sub(r"-{2,}", "-", f"{self.prefix}-{label}-{self.run_id}-{next(self._counter)}")
        name = name[:64].rstrip("-")
        assert NAME_RE.match(name), name
        return name


class PeerFactory:
    """Registers peers through ``MeshClient.register`` and refreshes the registry cache."""

    def __init__(self, gw: Gateway, names: NameFactory):
        self.gw = gw
        self.names = names
        self.responses: dict[str, MeshPeer] = {}

    def client(self, node: str, *, token: Any = _DEFAULT) -> MeshClient:
        tok = self.gw.token if token is _DEFAULT else token
        return MeshClient(node, token=tok, gateway_url=self.gw.url)

    def register(self, name: str, *, url: Any = _DEFAULT,
                 capabilities: Optional[dict] = None) -> MeshPeer:
        reg_url = f"http://{name}.invalid:8787" if url is _DEFAULT else url
        caps = {"compat": True} if capabilities is None else capabilities

        async def go() -> MeshPeer:
            async with self.client(name) as c:
                return await c.register(url=reg_url, capabilities=caps)

        peer = run_async(go)
        self.responses.setdefault(name, peer)
        self.gw.refresh_registry()
        return peer

    def new(self, label: str = "p", **kw: Any) -> str:
        name = self.names.new(label)
        self.register(name, **kw)
        return name

    def token(self, name: str) -> str:
        """The per-peer token minted by the FIRST registration of ``name``."""
        extra = self.responses[name].model_extra or {}
        tok = extra.get("peer_token")
        assert isinstance(tok, str) and tok.startswith("mgp_"), f"no mgp_ peer token for {name}: {extra}"
        return tok


def record_requests(mesh_client: MeshClient) -> list[tuple[str, str]]:
    """Attach a request hook to MeshClient's underlying httpx.AsyncClient."""
    seen: list[tuple[str, str]] = []

    async def hook(request):
        seen.append((request.method, request.url.path))

    mesh_client._ensure_client().event_hooks["request"].append(hook)
    return seen


def ids(rows: list) -> list[int]:
    return [int(r["id"]) if isinstance(r, dict) else int(r.id) for r in rows]


def fake_secret(kind: str) -> str:
    """Obviously fake credential-shaped strings, assembled at runtime."""
    alnum = "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0UvWxYz"
    return {
        "pypi": "py" + "pi-" + (alnum * 2)[:30],
        "github-pat": "gh" + "p_" + (alnum * 2)[:36],
        "aws-access-key": "AK" + "IA" + "ABCDEFGHIJ234567",
        "anthropic": "sk" + "-ant-" + (alnum * 2)[:40],
        "openai-project": "sk" + "-proj-" + (alnum * 2)[:40],
        "google": "AI" + "za" + (alnum * 2)[:35],
        "jwt": ".".join(["eyJ" + (alnum * 2)[:20]] * 2 + [(alnum * 2)[:24]]),
    }[kind]


SECRET_KINDS = ("pypi", "github-pat", "aws-access-key", "anthropic", "openai-project", "google", "jwt")


# ---------------------------------------------------------------------------
# The swarph CLI
# ---------------------------------------------------------------------------

CLI_SHIM = Path(__file__).with_name("cli_shim.py")


@dataclass
class CliResult:
    rc: int
    stdout: str
    stderr: str

    def __str__(self) -> str:  # for assertion messages
        return f"rc={self.rc}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


class Cli:
    """Runs ``python -m swarph_cli mesh ...`` against the gateway, with a private HOME
    (so per-peer token files land in a temp dir) and no ambient identity."""

    def __init__(self, gw: Gateway, home: Path):
        self.gw = gw
        self.home = home

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWARPH_")}
        env.update(HOME=str(self.home), MESH_GATEWAY_URL=self.gw.url,
                   MESH_GATEWAY_TOKEN=self.gw.token, PYTHONIOENCODING="utf-8")
        env.update(extra)
        return env

    def token_file(self, name: str) -> Path:
        return self.home / ".config" / "swarph" / f"{name}.peer_token"

    def run(self, *args: str, record: Optional[Path] = None, input: Optional[str] = None,
            timeout: float = 60.0, **env: str) -> CliResult:
        if record is not None:
            cmd = [sys.executable, str(CLI_SHIM), str(record), "mesh", *args]
        else:
            cmd = [sys.executable, "-m", "swarph_cli", "mesh", *args]
        p = subprocess.run(cmd, env=self.env(**env), capture_output=True, text=True,
                           timeout=timeout, input=input, cwd=str(self.home))
        return CliResult(p.returncode, p.stdout, p.stderr)
