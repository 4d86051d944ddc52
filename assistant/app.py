"""The composition root: builds every part once, owns the shared resources, starts and drains.

One Redis pool (embedded server when REDIS_URL is unset), one aiohttp ClientSession (shared by
the Slack client and the network clients), one aiohttp web server on PORT serving
``POST /slack/events``, ``POST /ingest/mentions`` and ``GET /healthz`` — in Socket Mode too,
where Slack events arrive over the socket instead.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

import handlers.events
from assistant.background import Background
from assistant.cases import CaseService, PostCard, UpdateCard
from assistant.escalation import Escalator
from assistant.jobs import JobHandler, JobRunner
from assistant.networks.mastodon import MastodonClient
from assistant.publishing import Publisher
from assistant.settings import Settings
from assistant.slack import SlackGateway
from assistant.sources.ingest import ingest_route
from assistant.sources.mastodon import MastodonPoller
from assistant.store import Store, keys
from assistant.store.embedded import EmbeddedRedis
from assistant.voting import ProposalRefused, ThreadService

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from assistant.scoring import Scorer
    from assistant.scoring.moderation import Moderation

log = logging.getLogger(__name__)

MAX_SLACK_BODY = 1024 * 1024


class Assistant:
    def __init__(self, settings: Settings, *, scorer: Scorer | None = None) -> None:
        self.settings = settings
        self._scorer = scorer
        self.ready = False
        self.port: int | None = None
        self._embedded: EmbeddedRedis | None = None
        self._redis: aioredis.Redis | None = None
        self._session: aiohttp.ClientSession | None = None
        self._web: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._poller_task: asyncio.Task[None] | None = None
        self.poller: MastodonPoller | None = None
        self.background = Background()

    async def start(self) -> None:
        s = self.settings
        if s.REDIS_URL:
            url = s.REDIS_URL
        else:
            self._embedded = EmbeddedRedis(s.ASSISTANT_DATA_DIR)
            url = await self._embedded.start()
        self._redis = aioredis.Redis.from_url(url, decode_responses=True)
        await self._redis.ping()
        self.store = Store(self._redis, retention_seconds=s.retention_seconds)

        self._session = aiohttp.ClientSession()
        client = AsyncWebClient(
            token=s.SLACK_BOT_TOKEN.get_secret_value(),
            base_url=s.slack_api_url,
            session=self._session,
        )
        client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
        client.retry_handlers.append(AsyncServerErrorRetryHandler(max_retry_count=2))
        self.slack = SlackGateway(client, self.store, manager_ids=s.ASSISTANT_MANAGERS)
        await self.slack.identify()

        scorer = self._scorer or _default_scorer(s)
        mastodon = (
            MastodonClient(
                self._session, str(s.MASTODON_BASE_URL), s.MASTODON_ACCESS_TOKEN.get_secret_value()
            )
            if s.MASTODON_BASE_URL and s.MASTODON_ACCESS_TOKEN
            else None
        )
        job_handlers: dict[str, JobHandler] = {}
        self.jobs = JobRunner(self.store, job_handlers, lease_seconds=s.ASSISTANT_JOB_LEASE_SECONDS)
        self.cases = CaseService(
            s,
            self.store,
            self.slack,
            scorer,
            on_due=self.jobs.wake,
            moderation=_moderation(s, self._session),
        )
        job_handlers.update(
            {
                keys.JOB_POST_CARD: PostCard(self.cases),
                keys.JOB_UPDATE_CARD: UpdateCard(self.cases),
                keys.JOB_PUBLISH: Publisher(s, self.store, self.slack, mastodon),
                keys.JOB_SLA: Escalator(s, self.store, self.slack),
            }
        )
        self.threads = ThreadService(
            s, self.store, self.slack, on_due=self.jobs.wake, spawn=self.background.spawn
        )
        bolt_logger = logging.getLogger("assistant.bolt")
        bolt_logger.addFilter(_not_token_skipped)
        self.bolt = AsyncApp(
            client=client,
            signing_secret=s.SLACK_SIGNING_SECRET.get_secret_value(),
            process_before_response=True,
            logger=bolt_logger,
        )
        handlers.events.register(self.bolt, self.threads, tell_user=self._tell_user)

        self.jobs.start()
        await self._start_web()
        if s.SLACK_APP_TOKEN is not None:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.bolt, s.SLACK_APP_TOKEN.get_secret_value())
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        if mastodon is not None and s.MASTODON_POLL_SECONDS > 0:
            self.poller = MastodonPoller(
                mastodon, self.store, self.cases.ingest, interval=s.MASTODON_POLL_SECONDS
            )
            self._poller_task = asyncio.create_task(self.poller.run(), name="mastodon-poller")
        self.ready = True
        log.info(
            "assistant ready on port %s (%s mode)",
            self.port,
            "Socket" if s.socket_mode else "HTTP",
        )

    async def _start_web(self) -> None:
        app = web.Application(client_max_size=MAX_SLACK_BODY)
        secret = self.settings.INGEST_SECRET.get_secret_value().encode()
        app.router.add_post("/slack/events", self._slack_events)
        app.router.add_post("/ingest/mentions", ingest_route(secret, self.cases.ingest))
        app.router.add_get("/healthz", self._healthz)
        self._web = web.AppRunner(app, access_log=None, shutdown_timeout=10)
        await self._web.setup()
        site = web.TCPSite(self._web, self.settings.HOST, self.settings.PORT)
        await site.start()
        self.port = int(self._web.addresses[0][1])  # the bound port (PORT=0 picks a free one)

    async def _slack_events(self, request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > MAX_SLACK_BODY:
            return web.json_response({"error": "body too large"}, status=413)
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def _healthz(self, _: web.Request) -> web.Response:
        if not self.ready or self._redis is None:
            return web.json_response({"ok": False, "reason": "starting or stopping"}, status=503)
        try:
            await self._redis.ping()
        except (aioredis.RedisError, OSError) as exc:
            return web.json_response({"ok": False, "reason": f"redis: {exc}"}, status=503)
        return web.json_response({"ok": True})

    def _tell_user(self, refusal: ProposalRefused) -> None:
        self.background.spawn(
            self.slack.ephemeral(
                refusal.channel, refusal.user, refusal.user_message, refusal.thread_ts
            ),
            name="ephemeral",
        )

    async def stop(self) -> None:
        """Drain: refuse new work, finish in-flight jobs and tasks, close shared resources."""
        self.ready = False
        if self.poller is not None:
            self.poller.stop()
        if self._poller_task is not None:
            await self._poller_task
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        if self._web is not None:
            await self._web.cleanup()  # waits for in-flight requests
        if hasattr(self, "jobs"):
            await self.jobs.stop()
        await self.background.drain()
        if self._session is not None:
            await self._session.close()
        if self._redis is not None:
            await self._redis.aclose()
        if self._embedded is not None:
            await self._embedded.stop()
        log.info("assistant stopped")


def _not_token_skipped(record: logging.LogRecord) -> bool:
    """Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns, at every start,
    that the client we give it (with our session and retry handlers) wins. It does, on purpose."""
    return "`token` will be unused" not in record.getMessage()


def _moderation(settings: Settings, session: aiohttp.ClientSession) -> Moderation | None:
    """The optional second opinion; ``None`` (nothing leaves the machine) unless configured."""
    if settings.ASSISTANT_MODERATION_URL is None:
        return None
    from assistant.scoring.moderation import Moderation

    key = settings.ASSISTANT_MODERATION_API_KEY
    return Moderation(
        session,
        str(settings.ASSISTANT_MODERATION_URL),
        key.get_secret_value() if key else None,
        timeout=settings.ASSISTANT_MODERATION_TIMEOUT,
        per_minute=settings.ASSISTANT_MODERATION_PER_MINUTE,
    )


def _default_scorer(settings: Settings) -> Scorer:
    from assistant.scoring import Scorer

    return Scorer(
        threshold=settings.ASSISTANT_HOSTILITY_THRESHOLD,
        allow_terms=settings.ASSISTANT_ALLOW_TERMS,
        block_terms=settings.ASSISTANT_BLOCK_TERMS,
    )
