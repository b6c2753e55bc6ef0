"""Three (or more) real nats-server processes as one JetStream cluster on free local ports, for the failover test,
the benchmark and anyone who wants to try a cluster on one machine.

Each node has its own client port, cluster (route) port and store directory; every node names all the routes, and
JetStream elects a meta leader once a majority is up. A node can be killed (SIGKILL) and started again on the same
ports and store: it catches up from its peers.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from shared.natsserver import free_port, nats_server_binary

CLUSTER_NAME = "silkgate"


@dataclass
class Node:
    name: str
    port: int
    cluster_port: int
    monitor_port: int
    store: Path
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """`size` nats-server processes clustered over local routes; `url` lists them all, comma-separated."""

    def __init__(self, size: int = 3, *, log_dir: Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="sg-nats-cluster-"))
        self.log_dir = log_dir or self.root
        self.nodes = [Node(name=f"n{index}", port=free_port(), cluster_port=free_port(), monitor_port=free_port(),
                           store=self.root / f"n{index}") for index in range(1, size + 1)]

    @property
    def url(self) -> str:
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> Node:
        return next(node for node in self.nodes if node.name == name)

    def command(self, node: Node) -> list[str]:
        routes = ",".join(f"nats-route://127.0.0.1:{other.cluster_port}" for other in self.nodes if other is not node)
        return [nats_server_binary(), "-a", "127.0.0.1", "-p", str(node.port), "-n", node.name, "-js",
                "-sd", str(node.store), "--cluster_name", CLUSTER_NAME,
                "--cluster", f"nats://127.0.0.1:{node.cluster_port}", "--routes", routes,
                "-m", str(node.monitor_port), "-l", str(self.log_dir / f"nats-{node.name}.log")]

    def start(self) -> None:
        """Start every node, then wait until the cluster has a JetStream meta leader."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for node in self.nodes:
            self.start_node(node.name, wait=False)
        for node in self.nodes:
            _wait_for_port(node.port)
        self.wait_healthy()

    def start_node(self, name: str, *, wait: bool = True) -> None:
        node = self.node(name)
        node.store.mkdir(parents=True, exist_ok=True)
        node.process = subprocess.Popen(self.command(node), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait:
            _wait_for_port(node.port)

    def kill_node(self, name: str) -> None:
        """SIGKILL one node: no goodbye to its peers or clients."""
        node = self.node(name)
        if node.running:
            assert node.process is not None
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(10)
        node.process = None

    def healthy(self, node: Node) -> bool:
        """The node's own word: JetStream is up and current with the cluster (/healthz)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/healthz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Every running node reports healthy (a meta leader elected, its streams caught up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.healthy(node) for node in self.nodes if node.running):
                return
            time.sleep(0.2)
        raise RuntimeError(f"NATS cluster not healthy after {timeout}s; logs in {self.log_dir}")

    def stop(self) -> None:
        for node in self.nodes:
            if node.running:
                assert node.process is not None
                node.process.terminate()
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(10)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
            node.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nats-server did not listen on {port}")
