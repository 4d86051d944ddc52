"""The Slack side the core needs: posting, updating, reacting, and who is who.

One AsyncWebClient (sharing the app's aiohttp session, with the rate-limit retry handler
only) is owned by the composition root and passed in. users.info and usergroups.users.list
answers are cached in Redis (shared by replicas) and briefly in process.

Every failure of a call becomes a :class:`SlackError`, sorted here: transient (HTTP 429 —
with its Retry-After —, 5xx, Slack's own internal errors, timeouts and dropped connections,
after which a write's outcome is unknown) or permanent (anything else Slack answers: a bad
request such as ``invalid_blocks``, a missing channel, no permission, a revoked token).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from assistant.errors import SlackError
from assistant.ratelimit import ChannelLimiter
from assistant.store import Store

# Errors Slack answers with HTTP 200 that mean "try again", not "your request is wrong".
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)
HISTORY_PAGES = 5  # look-before-retry reads at most this many pages (of 200) of a channel
# Reads made before Slack gets its answer (who is a bot, who is a manager) give up after this:
# the event then answers 503 (Slack retries it) instead of missing Slack's 3 s.
ACK_PATH_SECONDS = 1.5
USER_CACHE_SECONDS = 24 * 3600
GROUP_CACHE_SECONDS = 600
_LOCAL_CACHE_SECONDS = 60.0
# Messages to a channel: through the per-channel limiter (assistant/ratelimit.py), never
# retried by the SDK on a 429 (the limiter is pushed back instead).
LIMITED_METHODS = frozenset({"chat.postMessage", "chat.update"})


@dataclass(frozen=True, slots=True)
class SlackUser:
    id: str
    name: str
    is_bot: bool


class SlackGateway:
    def __init__(
        self,
        client: AsyncWebClient,
        store: Store,
        *,
        manager_ids: tuple[str, ...],
        limiter: ChannelLimiter | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.limiter = limiter
        self._manager_users = frozenset(m for m in manager_ids if not m.startswith("S"))
        self._manager_group = next((m for m in manager_ids if m.startswith("S")), None)
        self._users: dict[str, tuple[float, SlackUser]] = {}
        self._group: tuple[float, frozenset[str]] | None = None
        self.bot_user_id: str | None = None
        self.bot_id: str | None = None
        self.team_id: str | None = None
        self.health: Callable[[str, bool], None] | None = None  # (dependency, worked)

    async def _call(
        self,
        method: str,
        *,
        within: float | None = None,
        before_send: Callable[[], Awaitable[object]] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Call a Web API method through slack_sdk's own method (right verb and encoding);
        ``within``: give up (transient error) after that many seconds. A message to a channel
        first takes the channel's token (may raise Throttled: nothing sent); a 429 pushes the
        channel's limiter back by its Retry-After."""
        channel = str(params.get("channel", ""))
        limited = self.limiter is not None and method in LIMITED_METHODS and channel != ""
        if limited:
            assert self.limiter is not None
            await self.limiter.acquire(channel)
        if before_send is not None:  # e.g. count the attempt, once the call will be made
            await before_send()
        try:
            async with asyncio.timeout(within):
                response = await getattr(self.client, method.replace(".", "_"))(**params)
        except SlackApiError as exc:
            error = sort_api_error(method, exc)
            if limited and error.error in ("ratelimited", "rate_limited"):
                assert self.limiter is not None
                await self.limiter.slow_down(channel, error.retry_after or 1.0)
            self._health(not error.outcome_unknown)  # a 5xx is Slack's trouble
            raise error from exc
        except (TimeoutError, aiohttp.ClientError, SlackClientError) as exc:
            # no answer (or none we could read): the call may or may not have been processed
            self._health(False)
            raise SlackError(
                method, type(exc).__name__, transient=True, outcome_unknown=True
            ) from exc
        self._health(True)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _health(self, worked: bool) -> None:
        if self.health is not None:
            self.health("slack", worked)

    async def identify(self) -> str:
        """auth.test: learn the bot's own user id (its reactions and messages never count)."""
        data = await self._call("auth.test")
        self.bot_user_id = str(data["user_id"])
        self.bot_id = str(data.get("bot_id") or "") or None
        self.team_id = str(data.get("team_id") or "") or None
        return self.bot_user_id

    # -- messages ------------------------------------------------------------------------

    async def check_rate(self, channel: str) -> None:
        """Throttled now if a post to ``channel`` would wait for the limiter (nothing taken)."""
        if self.limiter is not None:
            await self.limiter.check(channel)

    async def post(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, **extra: Any
    ) -> str:
        return (await self.post_where(channel, text, blocks, **extra))[1]

    async def post_where(
        self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None, **extra: Any
    ) -> tuple[str, str]:
        """Like post, returning (the conversation id, ts): a user id as channel posts in the
        app's DM with them, whose id chat.update then needs."""
        params: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if blocks is not None:
            params["blocks"] = blocks
        data = await self._call("chat.postMessage", **params, **extra)
        return str(data.get("channel") or channel), str(data["ts"])

    async def find_in_thread(
        self, channel: str, thread_ts: str, metadata: dict[str, Any]
    ) -> str | None:
        """The ts of the bot's message carrying ``metadata`` in that thread, if any."""
        data = await self._call(
            "conversations.replies",
            channel=channel,
            ts=thread_ts,
            include_all_metadata=True,
            limit=200,
        )
        for m in data.get("messages", []):
            if m.get("metadata") == metadata and m.get("user") == self.bot_user_id:
                return str(m["ts"])
        return None

    async def post_once_in_thread(
        self,
        channel: str,
        thread_ts: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        case_id: str,
        what: str,
        event_type: str,
    ) -> str:
        """Post in a case's thread at most once per (case, ``what``) (or a surge's: its id as
        ``case_id``): a marker in the case's slot is set before the first attempt; any later
        one (a retry after an unknown outcome, a run again after a crash) first looks in the
        thread for the message's metadata. Returns the message's ts."""
        meta = {"event_type": event_type, "event_payload": {"case_id": case_id, "what": what}}
        ts = None
        if not await self.store.memory.once(case_id, what):
            ts = await self.find_in_thread(channel, thread_ts, meta)
        if ts is None:
            ts = await self.post(channel, text, blocks, thread_ts=thread_ts, metadata=meta)
        return ts

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", user_id=user, view=view)

    async def permalink(self, channel: str, ts: str) -> str:
        data = await self._call("chat.getPermalink", channel=channel, message_ts=ts)
        return str(data.get("permalink") or "")

    async def post_in_thread(
        self, channel: str, thread_ts: str, text: str, *, metadata: dict[str, Any] | None = None
    ) -> str:
        extra: dict[str, Any] = {"thread_ts": thread_ts}
        if metadata is not None:
            extra["metadata"] = metadata
        return await self.post(channel, text, **extra)

    async def find_own_message(
        self, channel: str, metadata: dict[str, Any], *, oldest: float
    ) -> str | None:
        """The ts of a top-level message the bot posted in ``channel`` since ``oldest`` that
        carries ``metadata`` (look-before-retry after an attempt whose outcome is unknown)."""
        return await self._find_own(channel, oldest, lambda m: m.get("metadata") == metadata)

    async def find_own_file(self, channel: str, name: str, *, oldest: float) -> str | None:
        """The ts of a message the bot shared in ``channel`` since ``oldest`` with a file
        named ``name`` (an upload carries no metadata: look-before-retry by its file)."""

        def shares(m: dict[str, Any]) -> bool:
            files = m.get("files")
            return isinstance(files, list) and any(
                isinstance(f, dict) and f.get("name") == name for f in files
            )

        return await self._find_own(channel, oldest, shares)

    async def _find_own(
        self, channel: str, oldest: float, match: Callable[[dict[str, Any]], bool]
    ) -> str | None:
        cursor = ""
        for _ in range(HISTORY_PAGES):
            params: dict[str, Any] = {
                "channel": channel,
                "oldest": f"{max(0.0, oldest):.6f}",
                "include_all_metadata": True,
                "limit": 200,
            }
            if cursor:
                params["cursor"] = cursor
            data = await self._call("conversations.history", **params)
            for m in data.get("messages", []):
                if m.get("user") == self.bot_user_id and match(m):
                    return str(m["ts"])
            cursor = str((data.get("response_metadata") or {}).get("next_cursor") or "")
            if not data.get("has_more") or not cursor:
                return None
        return None

    async def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        params: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if thread_ts:
            params["thread_ts"] = thread_ts
        await self._call("chat.postEphemeral", **params)

    async def upload(
        self, channel: str, filename: str, content: bytes, *, title: str, comment: str, alt: str
    ) -> str:
        """Share a file in a channel with a message, through Slack's upload flow
        (files.getUploadURLExternal, POST to the upload URL, files.completeUploadExternal:
        slack_sdk's files_upload_v2). Returns the file id."""
        data = await self._call(
            "files.upload_v2",
            channel=channel,
            file=content,
            filename=filename,
            title=title,
            initial_comment=comment,
            alt_txt=alt,
        )
        files = data.get("files") or [data.get("file") or {}]
        return str(files[0].get("id", ""))

    async def react(self, channel: str, ts: str, name: str) -> None:
        try:
            await self._call("reactions.add", channel=channel, timestamp=ts, name=name)
        except SlackError as exc:
            if exc.error != "already_reacted":
                raise

    # -- people --------------------------------------------------------------------------

    async def names(self, user_ids: set[str] | frozenset[str]) -> dict[str, str]:
        """Display names of a few people, resolved concurrently (callers bound how many). A
        user Slack does not know keeps their id as name."""

        async def name(user_id: str) -> str:
            try:
                return (await self.user(user_id)).name
            except SlackError as exc:
                if exc.transient:
                    raise
                return user_id

        ids = sorted(user_ids)
        return dict(zip(ids, await asyncio.gather(*(name(u) for u in ids)), strict=True))

    async def user(self, user_id: str) -> SlackUser:
        now = time.monotonic()
        hit = self._users.get(user_id)
        if hit and hit[0] > now:
            return hit[1]
        cached = await self.store.cached_user(user_id)
        if cached is None:
            data = await self._call("users.info", user=user_id, within=ACK_PATH_SECONDS)
            info = data.get("user", {})
            profile = info.get("profile", {})
            name = (
                profile.get("display_name")
                or profile.get("real_name")
                or info.get("real_name")
                or info.get("name")
                or user_id
            )
            is_bot = bool(info.get("is_bot")) or user_id == "USLACKBOT"
            cached = {"name": str(name), "is_bot": "1" if is_bot else "0"}
            await self.store.cache_user(user_id, cached, USER_CACHE_SECONDS)
        user = SlackUser(user_id, cached["name"], cached["is_bot"] == "1")
        self._users[user_id] = (now + _LOCAL_CACHE_SECONDS, user)
        return user

    async def usergroup_users(self, group_id: str) -> list[str]:
        """The members of a user group, asked now (no cache: for rare uses such as paging)."""
        data = await self._call("usergroups.users.list", usergroup=group_id)
        return [str(u) for u in data.get("users", [])]

    async def is_manager(self, user_id: str) -> bool:
        if user_id in self._manager_users:
            return True
        if self._manager_group is None:
            return False
        return user_id in await self._group_members(self._manager_group)

    async def _group_members(self, group_id: str) -> frozenset[str]:
        now = time.monotonic()
        if self._group and self._group[0] > now:
            return self._group[1]
        users = await self.store.cached_usergroup(group_id)
        if users is None:
            data = await self._call(
                "usergroups.users.list", usergroup=group_id, within=ACK_PATH_SECONDS
            )
            users = [str(u) for u in data.get("users", [])]
            await self.store.cache_usergroup(group_id, users, GROUP_CACHE_SECONDS)
        members = frozenset(users)
        self._group = (now + _LOCAL_CACHE_SECONDS, members)
        return members


class RateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """The SDK's 429 retry, except for messages to a channel: those go back to the channel's
    limiter (pushed back by the Retry-After) and their job waits in the queue."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").rsplit("/", 1)[-1] in LIMITED_METHODS:
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def sort_api_error(method: str, exc: SlackApiError) -> SlackError:
    """A Slack answer that is not ok, as a transient or permanent SlackError."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    if status == 429 or error in ("ratelimited", "rate_limited"):
        headers = getattr(response, "headers", None) or {}
        retry_after = _seconds(headers.get("retry-after") or headers.get("Retry-After"))
        return SlackError(method, error, transient=True, retry_after=retry_after or 1.0)
    if status >= 500:
        # Slack documents that a 5xx may follow a partial success: the write may exist
        return SlackError(method, error, transient=True, outcome_unknown=True)
    return SlackError(method, error, transient=error in TRANSIENT_ERRORS)


def _seconds(value: object) -> float | None:
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(0.0, float(str(value))) if value is not None else None
    except ValueError:
        return None
