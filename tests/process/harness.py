"""Run the assistant as a real OS process (``python -m assistant run``) against the emulators.

The emulators run in the test process; the app is a child process in its own session (its
embedded redis-server, in a session of its own, dies with it whatever kills it, as in a
container stop or a crash), configured only through the environment, as the README documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import redis.asyncio as aioredis

from assistant.emulators.bluesky import BlueskyEmulator
from assistant.emulators.mastodon import MastodonEmulator
from assistant.emulators.slack import EmulatedMessage, SlackEmulator
from assistant.emulators.x import XEmulator
from assistant.models import Case
from assistant.sandbox import (
    BOT_TOKEN,
    CHANNEL,
    INGEST_SECRET,
    MANAGER_GROUP,
    MANON,
    MASTODON_TOKEN,
    MAX,
    OLIVIA,
    ONCALL_GROUP,
    SIGNING_SECRET,
    TEAM,
    network_emulators,
    network_settings,
    wait_for,  # re-exported for the tests
    webhook_body,
)
from assistant.settings import Settings
from assistant.sources.ingest import SIGNATURE_HEADER, sign
from assistant.store import Store

T = TypeVar("T")

REPO = Path(__file__).resolve().parents[2]
SETTING_NAMES = frozenset(Settings.model_fields)
STATUSES = "/api/v1/statuses"
HOSTILE = "vous êtes des connards, bande de nuls"


def free_port() -> int:
    """A port nobody listens on now (PORT=0 would not tell us which one the app got)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_environ() -> dict[str, str]:
    """The test process's environment without any of the app's settings (e.g. REDIS_URL)."""
    return {k: v for k, v in os.environ.items() if k not in SETTING_NAMES}


def proc_state(pid: int) -> str | None:
    """The /proc state letter of a process (``R``, ``S``, ``Z``…), None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rpartition(")")[2].split()[0]


def proc_ppid(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(raw.rpartition(")")[2].split()[1])


def proc_alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that is not us counts as dead)."""
    state = proc_state(pid)
    return state is not None and state not in ("Z", "X")


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and proc_ppid(int(entry.name)) == pid:
            out.append(int(entry.name))
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


@dataclass
class AppProcess:
    """One run of ``python -m assistant run``."""

    proc: asyncio.subprocess.Process
    port: int
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def health(self, http: aiohttp.ClientSession) -> int | None:
        """The HTTP status of GET /healthz, None when nothing answers."""
        try:
            async with http.get(
                f"{self.url}/healthz", timeout=aiohttp.ClientTimeout(total=1)
            ) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def wait_healthy(self, http: aiohttp.ClientSession, timeout: float = 15.0) -> None:
        async def healthy() -> bool:
            if self.proc.returncode is not None:
                raise AssertionError(
                    f"the app exited ({self.proc.returncode}) before being healthy:\n{self.log()}"
                )
            return await self.health(http) == 200

        await wait_for(healthy, timeout, "GET /healthz == 200", interval=0.02)

    def redis_server_pids(self) -> list[int]:
        return [p for p in children(self.pid) if "redis-server" in cmdline(p)]

    def kill_group(self) -> None:
        """kill -9 of the app's process group (its redis-server then dies with the app)."""
        os.killpg(self.pid, signal.SIGKILL)

    async def wait_exit(self, timeout: float = 10.0) -> int:
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the app did not exit within {timeout}s:\n{self.log()}") from None

    async def ensure_dead(self) -> None:
        """Teardown: whatever the test did, leave no process of this run behind."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            await self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # a redis-server left in the group


# ---------------------------------------------------------------------- the world


class ProcessWorld:
    """The emulators (in this process) and the app (a child process) on one data directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.slack = SlackEmulator(
            signing_secret=SIGNING_SECRET,
            bot_token=BOT_TOKEN,
            users=TEAM,
            usergroups={MANAGER_GROUP: [MANON], ONCALL_GROUP: [OLIVIA]},
            channels=(CHANNEL,),
        )
        self.mastodon: MastodonEmulator
        self.bluesky: BlueskyEmulator
        self.x: XEmulator
        self.mastodon, self.bluesky, self.x = network_emulators()
        self.http = aiohttp.ClientSession()
        self.runs: list[AppProcess] = []
        self._redis: aioredis.Redis | None = None

    async def __aenter__(self) -> ProcessWorld:
        await self.slack.start()
        await self.mastodon.start()
        await self.bluesky.start()
        await self.x.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for run in self.runs:
            await run.ensure_dead()
        await self.close_redis()
        await self.http.close()
        await self.slack.stop()
        await self.mastodon.stop()
        await self.bluesky.stop()
        await self.x.stop()

    @property
    def app(self) -> AppProcess:
        return self.runs[-1]

    def env(self, port: int, **overrides: str | None) -> dict[str, str]:
        """The environment of a run, as an operator would write it (None: unset)."""
        env = clean_environ()
        env.update(
            {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": self.slack.api_url,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "ASSISTANT_DATA_DIR": str(self.data_dir),
                "ASSISTANT_CHANNEL": CHANNEL,
                "ASSISTANT_MANAGERS": f"{MAX},{MANAGER_GROUP}",
                "ASSISTANT_ONCALL": ONCALL_GROUP,
                "INGEST_SECRET": INGEST_SECRET,
                "MASTODON_BASE_URL": self.mastodon.base_url,
                "MASTODON_ACCESS_TOKEN": MASTODON_TOKEN,
                "MASTODON_POLL_SECONDS": "0",
                **{k: str(v) for k, v in network_settings(self.bluesky, self.x).items()},
            }
        )
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    async def spawn(self, env: dict[str, str]) -> AppProcess:
        """Start ``python -m assistant run`` in its own session, output to a log file."""
        log_path = self.tmp / f"app-{len(self.runs) + 1}.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "assistant",
                "run",
                env=env,
                cwd=self.tmp,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        run = AppProcess(proc, int(env.get("PORT", "0") or 0), log_path)
        self.runs.append(run)
        return run

    async def start_app(self, **overrides: str | None) -> AppProcess:
        """Start a run on a fresh port, point Slack's events at it, wait until healthy."""
        await self.close_redis()
        port = free_port()
        run = await self.spawn(self.env(port, **overrides))
        self.slack.events_url = f"{run.url}/slack/events"
        await run.wait_healthy(self.http)
        return run

    # -- the app's Redis (embedded: a Unix socket in the data directory) ------------------

    @property
    def redis_socket(self) -> Path:
        return self.data_dir.resolve() / "redis.sock"

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.Redis(
                unix_socket_path=str(self.redis_socket), decode_responses=True
            )
        return self._redis

    @property
    def store(self) -> Store:
        return Store(self.redis, retention_seconds=86400)

    async def close_redis(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None

    async def case(self, case_id: str) -> Case:
        case = await self.store.get_case(case_id)
        assert case is not None, f"no case {case_id} in Redis"
        return case

    # -- what users do -----------------------------------------------------------------

    async def ingest(self, body: dict[str, Any]) -> str:
        """A monitoring tool forwards a mention (signed); returns the case id."""
        raw = json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(INGEST_SECRET.encode(), raw),
        }
        async with self.http.post(
            f"{self.app.url}/ingest/mentions", data=raw, headers=headers
        ) as resp:
            answer = await resp.json(content_type=None)
            assert resp.status == 202, (resp.status, answer)
        return str(answer["case"])

    async def ingest_hostile(self, text: str = HOSTILE) -> tuple[str, dict[str, Any]]:
        """A Mastodon user insults the brand; a monitoring tool forwards it (signed)."""
        notification = self.mastodon.add_mention(
            "colere@mastodon.social", text, display_name="Colere", followers=1200
        )
        return await self.ingest(webhook_body(notification)), notification

    async def card(self, case_id: str, timeout: float = 10.0) -> EmulatedMessage:
        """Wait for the case's card in the channel (as Slack shows it)."""

        async def posted() -> str:
            return (await self.case(case_id)).card_ts or ""

        ts = await wait_for(posted, timeout, f"card of case {case_id}")
        return self.slack.message(CHANNEL, ts)

    async def propose(self, user: str, card: EmulatedMessage, text: str) -> str:
        """A colleague replies in the card's thread; waits for the bot's 📝 acceptance."""
        ts = await self.slack.post_message(user, text, channel=CHANNEL, thread_ts=card.ts)
        assert ts.delivery.ok, ts.delivery.attempts
        message = self.slack.message(CHANNEL, ts)
        await wait_for(
            lambda: self.slack.bot_user_id in message.reactions.get("memo", []),
            10,
            "the bot's 📝 on the proposal",
        )
        return str(ts)

    async def react(self, user: str, ts: str, name: str = "white_check_mark") -> None:
        delivery = await self.slack.add_reaction(user, CHANNEL, ts, name)
        assert delivery.ok, delivery.attempts

    def thread_bot_texts(self, card: EmulatedMessage) -> list[str]:
        return [m.text for m in self.slack.thread(CHANNEL, card.ts)[1:] if m.by_bot]

    def cards(self) -> list[EmulatedMessage]:
        """The bot's top-level messages in the case channel (one per case)."""
        return [m for m in self.slack.bot_messages(CHANNEL) if not m.is_reply]

    async def publish_requests_answered(self) -> bool:
        """Every POST /api/v1/statuses the emulator received has been answered."""
        return all(r.status for r in self.mastodon.requests_to("POST", STATUSES))
