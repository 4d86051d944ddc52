"""The composition root: builds every part once, owns the shared resources, starts and drains.

One Redis pool (embedded server when REDIS_URL is unset), one aiohttp ClientSession (shared by
the Slack client and the network clients), one aiohttp web server on PORT serving
``POST /slack/events``, ``POST /ingest/mentions`` and ``POST /ingest/mentions/batch`` (all
through assistant/edge.py: authenticated over the raw bytes before anything is parsed),
``GET /healthz`` and
``GET /metrics`` (Prometheus) — in Socket Mode too, where Slack events arrive over the socket
instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient

import handlers.actions
import handlers.commands
import handlers.events
import handlers.home
from assistant.background import Background, stop_within
from assistant.cases import CaseService, IngestOutcome, PostCard, UpdateCard
from assistant.drafts import Drafter
from assistant.edge import MAX_SLACK_BODY, slack_events_route
from assistant.escalation import Escalator, Pager
from assistant.jobs import CaseJob, JobHandler, JobRunner, Sweeper
from assistant.memory import ProposePast, ReplyMemory
from assistant.metrics import Metrics
from assistant.models import Mention
from assistant.networks import build_networks
from assistant.oncall import HomeRefresh, OncallService, PageJob, PageUpdate, TroubleWatch
from assistant.publishing import Publisher, Settled
from assistant.ratelimit import ChannelLimiter
from assistant.reports import WeeklyDigest
from assistant.settings import Settings
from assistant.slack import RateLimitRetry, SlackGateway
from assistant.sources.ingest import ingest_batch_route, ingest_route
from assistant.sources.poller import Poller
from assistant.store import RedisClient, Store, keys
from assistant.store.connect import connect
from assistant.store.embedded import EmbeddedRedis
from assistant.store.oncall import OncallStore
from assistant.surge import SurgeCard, SurgeEnd, SurgePage, SurgeService
from assistant.voting import ProposalRefused, ThreadService

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from assistant.scoring import Scorer
    from assistant.scoring.moderation import Moderation

log = logging.getLogger(__name__)

SLACK_TIMEOUT_SECONDS = 10
# What SIGTERM may take at worst, step by step (stop): the pollers' polls in flight (one cut
# short is a crash at that point: the next poll reads again from the cursor), the requests in
# flight, the jobs in flight (their leases cover a hard stop), the background tasks. The
# container's and the pod's grace periods must exceed DRAIN_SECONDS (tests/deploy checks it).
POLLERS_STOP_SECONDS = 10.0
WEB_SHUTDOWN_SECONDS = 10.0
JOBS_STOP_SECONDS = 15.0
BACKGROUND_DRAIN_SECONDS = 10.0
DRAIN_SECONDS = (
    POLLERS_STOP_SECONDS + WEB_SHUTDOWN_SECONDS + JOBS_STOP_SECONDS + BACKGROUND_DRAIN_SECONDS
)


class Assistant:
    def __init__(self, settings: Settings, *, scorer: Scorer | None = None) -> None:
        self.settings = settings
        self._scorer = scorer
        self.ready = False
        self.port: int | None = None
        self._embedded: EmbeddedRedis | None = None
        self._redis: RedisClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._web: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._poller_tasks: list[asyncio.Task[None]] = []
        self.pollers: dict[str, Poller] = {}
        self._supervisor: asyncio.Task[None] | None = None
        self.background = Background()
        self.metrics = Metrics()
        self.pollers_stop_seconds = POLLERS_STOP_SECONDS

    async def start(self) -> None:
        s = self.settings
        if s.REDIS_URL:
            url = s.REDIS_URL
        else:
            self._embedded = EmbeddedRedis(s.ASSISTANT_DATA_DIR)
            url = await self._embedded.start()
            self._supervisor = asyncio.create_task(
                self._embedded.supervise(), name="embedded-redis-supervisor"
            )
        self._redis = await connect(url, cluster=s.REDIS_CLUSTER)
        self.store = Store(self._redis, retention_seconds=s.retention_seconds, metrics=self.metrics)
        if moved := await self.store.migrate_legacy_jobs(time.time()):
            log.info("moved %d jobs from the single job queue to the sharded one", moved)

        self._session = aiohttp.ClientSession(
            trace_configs=[self.metrics.http_trace(s.slack_api_url)]
        )
        client = AsyncWebClient(
            token=s.SLACK_BOT_TOKEN.get_secret_value(),
            base_url=s.slack_api_url,
            session=self._session,
            timeout=SLACK_TIMEOUT_SECONDS,
            # Only 429s are retried by the SDK (Slack did not process those), and not those
            # of messages to a channel: they push the channel's limiter back instead. No
            # retry on a 5xx or a dropped connection: chat.postMessage has no idempotency
            # key, and the message may exist; the job retries after looking for it.
            retry_handlers=[RateLimitRetry(max_retry_count=3)],
        )
        self.limiter = ChannelLimiter(
            self.store, rate=s.ASSISTANT_SLACK_POSTS_PER_SECOND, burst=s.ASSISTANT_SLACK_POST_BURST
        )
        self.slack = SlackGateway(
            client, self.store, manager_ids=s.ASSISTANT_MANAGERS, limiter=self.limiter
        )
        await self.slack.identify()

        scorer = self._scorer or _default_scorer(s, self.metrics)
        self.networks = build_networks(s, self._session, self.store)
        job_handlers: dict[str, JobHandler] = {}
        self.jobs = JobRunner(
            self.store,
            job_handlers,
            lease_seconds=s.ASSISTANT_JOB_LEASE_SECONDS,
            metrics=self.metrics,
        )
        self.cases = CaseService(
            s,
            self.store,
            self.slack,
            scorer,
            on_due=self.jobs.wake,
            moderation=_moderation(s, self._session),
        )
        self.pages = OncallStore(self.store)
        await self.pages.migrate_legacy_pause(time.time())
        self.oncall = OncallService(s, self.store, self.pages, self.slack, on_due=self.jobs.wake)
        pager = Pager(s, self.slack, self.pages, on_change=self.oncall.changed)
        self.pager = pager
        self.trouble = TroubleWatch(s, self.pages, pager)
        self.slack.health = self.trouble.record
        self.cases.paused = self.oncall.paused_until
        self.cases.changed = self.oncall.changed
        self.surges = SurgeService(
            s, self.store, self.slack, pager, self.limiter, on_due=self.jobs.wake
        )
        self.cases.surges = self.surges
        self.oncall.surge = self.surges.summary  # App Home and /ops status show the surge
        self.ingest = self.metrics.counted_ingest(self._ingest)
        sweeper = Sweeper(self.store, drafts=s.drafts_enabled)
        hooks = _PublishHooks(self, pager)
        digest = WeeklyDigest(s, self.store, self.slack)
        self.memory = ReplyMemory(s, self.store, self.slack, on_due=self.jobs.wake)
        self.cases.memory = self.memory
        publisher = Publisher(s, self.store, self.slack, self.networks, hooks=hooks)
        settled = Settled(s, self.store, self.slack, hooks=hooks, memory=self.memory)
        if s.drafts_enabled:  # nothing leaves the machine unless ASSISTANT_LLM_URL is set
            job_handlers[keys.JOB_DRAFTS] = Drafter(s, self.memory, self._session)
        job_handlers.update(
            {
                keys.JOB_POST_CARD: CaseJob(PostCard(self.cases, pager)),
                keys.JOB_UPDATE_CARD: CaseJob(UpdateCard(self.cases, pager)),
                keys.JOB_PUBLISH: CaseJob(publisher),
                keys.JOB_SETTLED: CaseJob(settled),
                keys.JOB_PROPOSE_PAST: ProposePast(self.memory),
                keys.JOB_SLA: CaseJob(Escalator(s, self.store, self.slack, pager)),
                keys.JOB_SWEEP: sweeper,
                keys.JOB_DIGEST: digest,
                keys.JOB_SURGE_CARD: SurgeCard(self.surges),
                keys.JOB_SURGE_PAGE: SurgePage(self.surges),
                keys.JOB_SURGE_END: SurgeEnd(self.surges),
                keys.JOB_PAGE: PageJob(s, self.pages, self.slack),
                keys.JOB_PAGE_UPDATE: PageUpdate(s, self.pages, self.slack),
                keys.JOB_HOME: HomeRefresh(self.oncall),
            }
        )
        await sweeper.ensure()
        await digest.ensure()
        self.threads = ThreadService(
            s,
            self.store,
            self.slack,
            on_due=self.jobs.wake,
            spawn=self.background.spawn,
            scorer=scorer,
        )
        bolt_logger = logging.getLogger("assistant.bolt")
        bolt_logger.addFilter(_not_token_skipped)
        # Who we are comes from the gateway's auth.test at start. Left to itself, Bolt calls
        # auth.test again on the first request after a start, and when Slack fails that call
        # it acknowledges the event (200) without running any listener: a vote or proposal
        # lost (a 500 and a traceback on a dropped connection).
        identity = AuthorizeResult(
            enterprise_id=None,
            team_id=self.slack.team_id,
            bot_id=self.slack.bot_id,
            bot_user_id=self.slack.bot_user_id,
            bot_token=s.SLACK_BOT_TOKEN.get_secret_value(),
        )

        async def authorize() -> AuthorizeResult:
            return identity

        self.bolt = AsyncApp(
            client=client,
            authorize=authorize,
            signing_secret=s.SLACK_SIGNING_SECRET.get_secret_value(),
            # the HTTP edge (assistant/edge.py) checks the signature and the replay window over
            # the raw bytes before Bolt sees a request (Socket Mode needs none)
            request_verification_enabled=False,
            process_before_response=True,
            logger=bolt_logger,
        )
        handlers.events.register(self.bolt, self.threads, tell_user=self._tell_user)
        handlers.home.register(self.bolt, self.oncall)
        handlers.actions.register(self.bolt, self.oncall, spawn=self.background.spawn)
        handlers.actions.register_surge(self.bolt, self.surges, spawn=self.background.spawn)
        handlers.actions.register_memory(self.bolt, self.memory, tell=self._tell)
        handlers.commands.register(self.bolt, self.oncall, s.ASSISTANT_COMMAND)
        handlers.events.register_fallback(self.bolt)  # last: takes what no listener above did

        self.jobs.start()
        await self._start_web()
        if s.SLACK_APP_TOKEN is not None:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.bolt, s.SLACK_APP_TOKEN.get_secret_value())
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
        for platform, network in self.networks.items():
            if network.poll_seconds > 0:
                poller = Poller(network, self.store, self.ingest)
                poller.paused = self.oncall.paused_until
                poller.health = self.trouble.record
                self.pollers[platform] = poller
                task = asyncio.create_task(poller.run(), name=f"{platform}-poller")
                self._poller_tasks.append(task)
        self.trouble.start()
        self.ready = True
        log.info(
            "assistant ready on port %s (%s mode)",
            self.port,
            "Socket" if s.socket_mode else "HTTP",
        )

    @property
    def embedded_redis(self) -> EmbeddedRedis | None:
        """The embedded Redis server when REDIS_URL is unset (tests stop and restart it)."""
        return self._embedded

    async def _start_web(self) -> None:
        app = web.Application(client_max_size=MAX_SLACK_BODY)
        app.on_response_prepare.append(_plain_headers)
        secret = self.settings.INGEST_SECRET.get_secret_value().encode()
        app.router.add_post(
            "/slack/events",
            slack_events_route(
                self.bolt, self.settings.SLACK_SIGNING_SECRET.get_secret_value().encode()
            ),
        )
        app.router.add_post("/ingest/mentions", ingest_route(secret, self.ingest))
        app.router.add_post("/ingest/mentions/batch", ingest_batch_route(secret, self.ingest))
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._livez)
        app.router.add_get("/metrics", self._metrics)
        # auto_decompress off: a body is read as sent (edge.py); Slack never compresses, and
        # a forged gzip/deflate body was a 500 before the signature could refuse it
        self._web = web.AppRunner(
            app, access_log=None, shutdown_timeout=WEB_SHUTDOWN_SECONDS, auto_decompress=False
        )
        await self._web.setup()
        site = web.TCPSite(self._web, self.settings.HOST, self.settings.PORT)
        await site.start()
        self.port = int(self._web.addresses[0][1])  # the bound port (PORT=0 picks a free one)

    async def _healthz(self, _: web.Request) -> web.Response:
        if not self.ready or self._redis is None:
            return web.json_response({"ok": False, "reason": "starting or stopping"}, status=503)
        try:
            await self._redis.ping()
        except (aioredis.RedisError, OSError) as exc:
            return web.json_response(
                {"ok": False, "reason": f"redis unavailable ({type(exc).__name__})"}, status=503
            )
        return web.json_response({"ok": True})

    async def _livez(self, _: web.Request) -> web.Response:
        """The process serves (a liveness probe): 200 even while Redis is away or it drains,
        because a restart cures neither — the app rides out a Redis outage by itself, and a
        restarted pod could not start until Redis is back (start-up connects first)."""
        return web.json_response({"ok": True})

    async def _metrics(self, _: web.Request) -> web.Response:
        """Prometheus text format; the queue and read gauges are read from Redis now."""
        if self._redis is not None:
            try:
                now = time.time()
                depth, lag = await self.store.queue_stats(now)
                self.metrics.queue_depth.set(depth)
                self.metrics.queue_lag.set(lag)
                month = time.strftime("%Y-%m", time.gmtime(now))
                for platform in self.networks:
                    read = await self.store.reads(platform, month)
                    self.metrics.posts_read.labels(platform).set(read)
            except (aioredis.RedisError, OSError):
                pass  # the counters still answer; /healthz tells about Redis
        body, content_type = self.metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    async def _ingest(self, mention: Mention) -> IngestOutcome:
        """Ingest, then refresh App Home (its open cases and today's figures) on a new case."""
        outcome = await self.cases.ingest(mention)
        if outcome.status == "opened":
            await self.oncall.changed()
        return outcome

    def _tell_user(self, refusal: ProposalRefused) -> None:
        self.background.spawn(
            self.slack.ephemeral(
                refusal.channel, refusal.user, refusal.user_message, refusal.thread_ts
            ),
            name="ephemeral",
        )

    def _tell(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        self.background.spawn(self.slack.ephemeral(channel, user, text, thread_ts), name="tell")

    async def stop(self) -> None:
        """Drain: refuse new work, finish in-flight jobs and tasks, close shared resources."""
        self.ready = False
        for poller in self.pollers.values():
            poller.stop()
        # (a poll hung on a slow network is cut short, not waited for)
        await stop_within(self._poller_tasks, self.pollers_stop_seconds)
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        if self._web is not None:
            await self._web.cleanup()  # waits for in-flight requests
        if hasattr(self, "trouble"):
            await self.trouble.stop()
        if hasattr(self, "jobs"):
            await self.jobs.stop(timeout=JOBS_STOP_SECONDS)
        await self.background.drain(timeout=BACKGROUND_DRAIN_SECONDS)
        if self._session is not None:
            await self._session.close()
        connected = self._redis is not None  # else start-up stopped at REDIS_URL: one line
        if self._redis is not None:
            await self._redis.aclose()
        if self._supervisor is not None:
            self._supervisor.cancel()
        if self._embedded is not None:
            await self._embedded.stop()
        if connected:
            log.info("assistant stopped")


class _PublishHooks:
    """What on-call adds to publishing (publishing.PublishHooks)."""

    def __init__(self, app: Assistant, pager: Pager) -> None:
        self.app = app
        self.pager = pager

    async def paused_until(self) -> float | None:
        return await self.app.oncall.paused_until()

    async def published(self, case_id: str) -> None:
        # today's figures are read from the audit trail (reports.TodayReport): no counter
        await self.pager.resolve_case(case_id)
        await self.app.oncall.changed()

    def health(self, dependency: str, worked: bool) -> None:
        self.app.trouble.record(dependency, worked)


async def _plain_headers(_: web.Request, response: web.StreamResponse) -> None:
    """No software versions in answers (the Server header); JSON is never sniffed as HTML."""
    response.headers.pop("Server", None)
    response.headers["X-Content-Type-Options"] = "nosniff"


def _not_token_skipped(record: logging.LogRecord) -> bool:
    """Bolt warns, at every start, that the token is unused: the client we give it (with our
    session and retry handlers) wins over SLACK_BOT_TOKEN, which it reads from the environment
    by itself, and the ``authorize`` function (the identity the gateway learnt at start) over
    the client's token. Both on purpose."""
    message = record.getMessage()
    return "`token` will be unused" not in message and "will be ignored" not in message


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


def _default_scorer(settings: Settings, metrics: Metrics) -> Scorer:
    return metrics.timed_scorer(
        threshold=settings.ASSISTANT_HOSTILITY_THRESHOLD,
        allow_terms=settings.ASSISTANT_ALLOW_TERMS,
        block_terms=settings.ASSISTANT_BLOCK_TERMS,
    )
