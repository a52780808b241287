"""Fixtures for meshgate's compatibility suite.

A session fixture starts ONE fresh meshgate process (binary from $MESHGATE_BIN, default
<repo>/target/debug/meshgate) on a free loopback port, with a temp data dir and a random
operator token, and points the Python client libraries at it through
MESH_GATEWAY_URL / MESH_GATEWAY_TOKEN. It is stopped (SIGTERM, then SIGKILL) at the end.
"""

from __future__ import annotations

import os

import pytest
from swarph_shared import peer_registry

from compat import Cli, Gateway, NameFactory, PeerFactory, meshgate_bin, start_gateway


class ExternalGateway:
    """A gateway this suite did not start ($MESHGATE_COMPAT_URL / $MESHGATE_COMPAT_TOKEN),
    e.g. two PostgreSQL replicas behind a round-robin proxy (scripts/compat.sh)."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/"), token

    def stop(self) -> None:
        pass


@pytest.fixture(scope="session")
def gateway_process(tmp_path_factory):
    external = os.environ.get("MESHGATE_COMPAT_URL")
    if external:
        proc = ExternalGateway(external, os.environ["MESHGATE_COMPAT_TOKEN"])
        os.environ["MESH_GATEWAY_URL"], os.environ["MESH_GATEWAY_TOKEN"] = proc.url, proc.token
        peer_registry._clear_cache()
        yield proc
        return
    binary = meshgate_bin()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.exit(
            f"meshgate binary not found or not executable: {binary}\n"
            "  build it with `cargo build -p meshgate-cli`, or set MESHGATE_BIN=<path>",
            returncode=4,
        )
    workdir = tmp_path_factory.mktemp("meshgate")
    try:
        proc = start_gateway(binary, workdir)
    except RuntimeError as exc:
        pytest.exit(f"could not start meshgate: {exc}", returncode=4)
    saved = {k: os.environ.get(k) for k in ("MESH_GATEWAY_URL", "MESH_GATEWAY_TOKEN")}
    # MeshClient / peer_registry read these at call time; the CLI helper passes them explicitly.
    os.environ["MESH_GATEWAY_URL"] = proc.url
    os.environ["MESH_GATEWAY_TOKEN"] = proc.token
    peer_registry._clear_cache()
    try:
        yield proc
    finally:
        proc.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        peer_registry._clear_cache()


@pytest.fixture(scope="session")
def gw(gateway_process) -> Gateway:
    return Gateway(gateway_process.url, gateway_process.token)


@pytest.fixture(scope="session")
def names() -> NameFactory:
    return NameFactory("mc")


@pytest.fixture
def peers(gw, names) -> PeerFactory:
    """``peers.new(label)`` registers a fresh peer via MeshClient.register."""
    return PeerFactory(gw, names)


@pytest.fixture(autouse=True)
def _fresh_registry_cache(request):
    """Every test starts with swarph_shared's process-wide /peers cache warm for THIS
    gateway (tests that need a cold cache clear it themselves)."""
    if "gw" in request.fixturenames:
        request.getfixturevalue("gw").refresh_registry()
    yield


@pytest.fixture(scope="session")
def alias_canonicals(gw, names):
    """Register the canonical targets of swarph_shared.KNOWN_ALIASES (fixed names)."""
    factory = PeerFactory(gw, names)
    present = gw.refresh_registry()
    for canonical in sorted(set(peer_registry.KNOWN_ALIASES.values())):
        if canonical not in present:
            factory.register(canonical, capabilities={"compat": "alias-canonical"})
    gw.refresh_registry()
    return dict(peer_registry.KNOWN_ALIASES)


@pytest.fixture(scope="session")
def cli(gw, tmp_path_factory) -> Cli:
    return Cli(gw, tmp_path_factory.mktemp("cli-home"))
