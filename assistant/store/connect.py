"""Open the one Redis pool from REDIS_URL / REDIS_CLUSTER, and check it is what they say.

- ``redis://`` / ``rediss://`` (TLS) / ``unix://``: one server (or a managed endpoint). ACL
  user and password go in the URL: ``rediss://user:password@host:6380/0``.
- ``redis+sentinel://[user:password@]host1:26379,host2:26379/<master name>[/db]``: Sentinel
  finds the current master (and follows a failover); the user/password are the data nodes'.
  ``rediss+sentinel://`` speaks TLS to the data nodes.
- ``REDIS_CLUSTER=1``: REDIS_URL names any node of a Redis Cluster (or Valkey cluster); the
  client discovers the others and follows slot moves and failovers.
A cluster URL pointing at a non-cluster server, or the reverse, stops start-up with one line
naming REDIS_URL (ConfigError). On one server (and Sentinel) the connections pack commands with
hiredis, in C, where redis-py's asyncio client packs them in Python (_HiredisPacking).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar, cast
from urllib.parse import unquote, urlsplit

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    DataError,
    MaxConnectionsError,
    NoPermissionError,
    RedisClusterException,
    RedisError,
)

from assistant.settings import ConfigError
from assistant.store.store import RedisClient

SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")

# One server: calls fail fast while it is down or unreachable (a request then answers 503 well
# within Slack's 3 s, and its sender retries). One quick retry covers a dropped connection
# (e.g. after Redis restarted); a timeout is not retried (it would only double the wait).
# A connection gets longer than a call: under load (many connections opened at once) a busy
# machine can take more than half a second to accept, while a hung server accepts at once.
REDIS_TIMEOUT_SECONDS = 0.5
REDIS_CONNECT_TIMEOUT_SECONDS = 1.5
REDIS_RETRIES = 1
# The pool: at most this many connections; a call beyond them waits for one to come back (up
# to the wait) rather than failing at once — redis-py's plain pool raises "Too many
# connections" past 100 in use, which turned a burst of 100+ concurrent webhooks into 503s.
REDIS_MAX_CONNECTIONS = 100
REDIS_POOL_WAIT_SECONDS = 0.5

_T = TypeVar("_T")
_GATED: ContextVar[bool] = ContextVar("redis_cluster_gated", default=False)


class _WaitingCluster(RedisCluster):
    """The cluster client, with the one server's timeouts, whose calls wait (up to
    REDIS_POOL_WAIT_SECONDS) for a free connection as the one server's BlockingConnectionPool
    does. redis-py's cluster client
    keeps at most REDIS_MAX_CONNECTIONS per node and raises MaxConnectionsError at once past
    them (a burst of 100+ concurrent webhooks on one node's slots got 503s); here at most that
    many calls and pipelines are in flight at once, so no node ever runs out. A call made
    inside another (a multi-key command split across slots) takes no second place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_connections", REDIS_MAX_CONNECTIONS)
        # fail fast as on one server: redis-py's defaults (5 s per attempt, 10 retries with
        # backoff up to 10 s) kept a call on a hung or unreachable node waiting ~55 s, past
        # Slack's 3 s and any webhook sender's timeout; a failover is ridden out by the
        # callers' own retries (Slack's, the sender's, the job's), as on one server
        kwargs.setdefault("socket_timeout", REDIS_TIMEOUT_SECONDS)
        kwargs.setdefault("socket_connect_timeout", REDIS_CONNECT_TIMEOUT_SECONDS)
        kwargs.setdefault(
            "retry", Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), REDIS_RETRIES)
        )
        super().__init__(*args, **kwargs)
        self._places = asyncio.Semaphore(kwargs["max_connections"])

    async def _waiting(self, call: Callable[[], Awaitable[_T]]) -> _T:
        if _GATED.get():
            return await call()
        try:
            async with asyncio.timeout(REDIS_POOL_WAIT_SECONDS):
                await self._places.acquire()
        except TimeoutError:
            raise MaxConnectionsError("no Redis connection free in time") from None
        token = _GATED.set(True)
        try:
            return await call()
        finally:
            _GATED.reset(token)
            self._places.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        return await self._waiting(
            lambda: super(_WaitingCluster, self).execute_command(*args, **kwargs)
        )

    def pipeline(
        self, transaction: Any | None = None, shard_hint: Any | None = None
    ) -> ClusterPipeline:
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return _WaitingPipeline(self, transaction)  # type: ignore[abstract]


class _WaitingPipeline(ClusterPipeline):
    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> Any:
        client = cast(_WaitingCluster, self.cluster_client)
        run = super().execute
        return await client._waiting(lambda: run(raise_on_error, allow_redirections))


class _HiredisPacking:
    """Commands packed by hiredis (C) instead of redis-py's Python packer.

    redis-py's asyncio connections pack every command in Python (its sync client uses hiredis
    when installed): ~60 µs of CPU for the ingest step's EVALSHA with its ~30 arguments,
    against ~8 µs here (bench/bench_surge.py). Same bytes on the wire, same rules: str encoded
    as UTF-8 (strict), int and float as their repr, a bool or None refused (DataError)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        first = args[0]
        if isinstance(first, str):  # "CONFIG GET": the words go as separate arguments
            args = (*first.encode().split(), *args[1:])
        elif b" " in first:
            args = (*first.split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            error = DataError(str(exc))
        if not any(isinstance(a, bytearray) for a in args):
            raise error  # a bool, None or another type redis-py refuses too
        # hiredis takes bytes and memoryview, not bytearray (rare: looked for after a refusal)
        args = tuple(bytes(a) if isinstance(a, bytearray) else a for a in args)
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from None

    def pack_commands(self, commands: Iterable[Iterable[Any]]) -> list[bytes]:
        return [b"".join(self.pack_command(*command)[0] for command in commands)]


def _hiredis_packing(client: aioredis.Redis) -> aioredis.Redis:
    """``client`` with its pool's connections packing commands with hiredis (_HiredisPacking);
    the connection class the URL chose (TCP, TLS, Unix socket, Sentinel-managed) is kept."""
    pool = client.connection_pool
    base: type[AbstractConnection] = pool.connection_class
    pool.connection_class = type(f"Hiredis{base.__name__}", (_HiredisPacking, base), {})
    return client


def _single_server(url: str) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_POOL_WAIT_SECONDS,
        decode_responses=True,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_SECONDS,
        retry=Retry(
            ExponentialWithJitterBackoff(base=0.01, cap=0.1),
            REDIS_RETRIES,
            supported_errors=(RedisConnectionError,),
        ),
        retry_on_timeout=False,
        health_check_interval=10,
    )
    return aioredis.Redis.from_pool(pool)  # the client owns (and closes) its pool


def _error(message: str) -> ConfigError:
    return ConfigError(f"invalid setting REDIS_URL: {message}")


def _sentinel_client(url: str) -> aioredis.Redis:
    parts = urlsplit(url)
    hosts = []
    for item in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit():
            raise _error(f"sentinel address {item!r} is not host:port")
        hosts.append((host, int(port)))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise _error("a Sentinel URL ends with /<master name>[/<db>]")
    kwargs: dict[str, object] = {
        "decode_responses": True,
        "db": int(path[1]) if len(path) > 1 else 0,
    }
    if parts.username:
        kwargs["username"] = unquote(parts.username)
    if parts.password:
        kwargs["password"] = unquote(parts.password)
    if parts.scheme.startswith("rediss"):
        kwargs["ssl"] = True
    sentinel = Sentinel(hosts, socket_timeout=5, **kwargs)  # type: ignore[no-untyped-call]
    return cast(aioredis.Redis, sentinel.master_for(path[0]))


async def connect(url: str, *, cluster: bool) -> RedisClient:
    """The client for ``url``, checked against the server's cluster mode."""
    scheme = urlsplit(url).scheme
    if cluster:
        if scheme not in ("redis", "rediss"):
            raise _error(f"REDIS_CLUSTER=1 needs a redis:// or rediss:// node URL, not {scheme}://")
        client = _WaitingCluster.from_url(url, decode_responses=True)
        try:
            await client.initialize()
        except RedisClusterException as exc:
            await client.aclose()
            if "not enabled" in str(exc).lower():
                raise _error(
                    "REDIS_CLUSTER=1 but this server is not a Redis Cluster node "
                    "(unset REDIS_CLUSTER)"
                ) from None
            raise
        return client
    plain = _hiredis_packing(
        _sentinel_client(url) if scheme in SENTINEL_SCHEMES else _single_server(url)
    )
    try:
        info = await plain.info("cluster")
    except NoPermissionError:  # an ACL user without INFO: the first cluster command will tell
        return plain
    except RedisError:
        await plain.aclose()
        raise
    if str(info.get("cluster_enabled", 0)) == "1":
        await plain.aclose()
        raise _error("this server is a Redis Cluster node: set REDIS_CLUSTER=1")
    return plain
