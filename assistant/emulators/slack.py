"""A local emulator of the Slack Web API and Events API subset the assistant uses.

The app talks to it over real HTTP exactly as it talks to Slack: point ``SLACK_API_URL`` at
:attr:`SlackEmulator.api_url` and the emulator's ``events_url`` at the app's Bolt endpoint (or
give it an ``app_token`` and let the app connect in Socket Mode).

Web API (``/api/<method>``): form-encoded bodies, JSON bodies (token only in the
``Authorization`` header, as Slack requires), and GET query strings; answers are HTTP 200 with
``{"ok": false, "error": ...}`` for API errors, HTTP 404 ``unknown_method`` for unknown
methods, HTTP 429 + ``Retry-After`` when rate-limited by :meth:`SlackEmulator.rate_limit`.
Faults Slack documents: a 5xx after a partial success (:meth:`~SlackEmulator.fail_after_commit`),
a connection dropped after the work is done (:meth:`~SlackEmulator.drop_after_commit`), plain
API errors (:meth:`~SlackEmulator.fail`, e.g. ``invalid_blocks``), ``not_in_channel`` once the
bot is removed from a channel (:meth:`~SlackEmulator.remove_bot`). A user id as ``channel``
posts in the app's direct conversation with that user (:func:`dm_channel`).

Events: the emulator plays the humans (:meth:`SlackEmulator.post_message`,
:meth:`~SlackEmulator.edit_message`, :meth:`~SlackEmulator.delete_message`,
:meth:`~SlackEmulator.add_reaction`, :meth:`~SlackEmulator.remove_reaction`) and echoes the
app's own posts, edits and reactions back as events, as Slack does for a subscribed app. Each
event is wrapped in an Events API envelope, signed with the signing secret, POSTed with a 3 s
timeout and retried (``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason``) on failure; or, while a
Socket Mode client is connected, sent over the websocket and retried until acknowledged.

State for assertions (all plain attributes):

- :attr:`SlackEmulator.calls`: every Web API call (:class:`ApiCall`), in order.
- :attr:`SlackEmulator.messages`: ``{(channel, ts): EmulatedMessage}``, including deleted ones.
- :attr:`SlackEmulator.ephemerals`: every ``chat.postEphemeral`` (:class:`Ephemeral`).
- :attr:`SlackEmulator.deliveries`: every event envelope sent to the app (:class:`Delivery`),
  with each attempt's HTTP status.
- :attr:`SlackEmulator.interactions`: every button click / slash command sent to the app.
- :attr:`SlackEmulator.responses`: every POST the app made to a ``response_url``.
- :attr:`SlackEmulator.homes`: the App Home view last published (``views.publish``) per user;
  :meth:`SlackEmulator.open_home` sends ``app_home_opened``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

import aiohttp
from aiohttp import web

from assistant.emulators._common import JSON, Fault, FaultQueue, ServerHandle, json_response

__all__ = [
    "ApiCall",
    "Delivery",
    "DeliveryAttempt",
    "EmulatedMessage",
    "EmulatedUser",
    "Ephemeral",
    "MessageVersion",
    "PostedMessage",
    "RawResponse",
    "ResponseUrlPost",
    "SlackEmulator",
    "SlackError",
    "dm_channel",
]

SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"
MAX_TEXT_CHARS = 40_000
MAX_BLOCKS = 50
_REACTION_NAME = re.compile(r"^[a-z0-9_+\-'\u00c0-\uffff]+(::skin-tone-[2-6])?$")
_REACTION_ALIASES = {"thumbsup": "+1", "thumbsdown": "-1"}
_TS = re.compile(r"^\d{10}\.\d{6}$")


class _RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class SlackError(Exception):
    """A Web API error: answered as HTTP 200 ``{"ok": false, "error": <error>}``."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class EmulatedUser:
    """A workspace member the emulator knows (``users.info``, events' ``user``)."""

    id: str
    name: str
    real_name: str = ""
    display_name: str = ""
    is_bot: bool = False
    deleted: bool = False
    is_admin: bool = False
    bot_id: str | None = None
    tz: str = "Europe/Paris"


@dataclass
class ApiCall:
    """One Web API request: method, parameters (token removed), time and the answer."""

    method: str
    params: dict[str, Any]
    time: float
    http_method: str
    status: int = 200
    ok: bool = True
    error: str | None = None
    response: JSON = field(default_factory=dict)

    def answer(
        self, data: JSON, status: int = 200, headers: dict[str, str] | None = None
    ) -> web.Response:
        """Record the answer to this call and build it."""
        self.status, self.ok, self.error = status, bool(data.get("ok")), data.get("error")
        self.response = data
        return json_response(data, status=status, headers=headers)


@dataclass
class MessageVersion:
    """A message's content before one edit (``chat.update`` or a human edit)."""

    text: str
    blocks: list[Any] | None
    replaced_at: str  # the ts of the edit that replaced this version
    by: str  # who made that edit


MAX_UPLOAD_BYTES = 1024 * 1024 * 1024  # Slack's own cap is 1 GB


@dataclass
class EmulatedFile:
    """A file of Slack's upload flow (files.getUploadURLExternal → POST → complete)."""

    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    title: str = ""
    content: bytes | None = None
    shared: bool = False
    channel: str | None = None
    message_ts: str | None = None

    def json(self) -> JSON:
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title or self.filename,
            "size": self.length,
        }


@dataclass
class EmulatedMessage:
    """A message stored by the emulator.

    ``user`` is the author (the bot user ID for the app's own posts, whose ``bot_id`` is set).
    ``thread_ts`` is None for a top-level message without replies, the parent's ts for a reply
    and, as in Slack, equal to ``ts`` for a parent once it has replies. ``reactions`` maps a
    reaction name (as Slack sends it, e.g. ``+1::skin-tone-3``) to the users who reacted, in
    order. ``history`` holds the versions replaced by edits, oldest first.
    """

    channel: str
    ts: str
    user: str
    text: str
    blocks: list[Any] | None = None
    thread_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    reply_broadcast: bool = False
    metadata: JSON | None = None
    attachments: list[Any] | None = None
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edited: JSON | None = None
    deleted: bool = False
    history: list[MessageVersion] = field(default_factory=list)
    files: list[JSON] | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def by_bot(self) -> bool:
        return self.bot_id is not None


@dataclass
class Ephemeral:
    """One ``chat.postEphemeral``: only ``user`` sees it, it is never stored as a message."""

    channel: str
    user: str
    text: str
    blocks: list[Any] | None
    thread_ts: str | None
    message_ts: str


@dataclass
class DeliveryAttempt:
    """One try at handing an envelope to the app.

    ``status`` is the HTTP status of the answer (200 for an acknowledged socket envelope), or
    None when there was none (timeout, connection failure). ``retry_num``/``retry_reason`` are
    what the attempt carried (0/"" for the first try).
    """

    transport: Literal["http", "socket"]
    retry_num: int
    retry_reason: str
    status: int | None
    body: str = ""
    failure: str = ""  # why it failed: http_timeout, http_error, connection_failed, timeout
    no_retry: bool = False  # the app answered X-Slack-No-Retry: 1

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    """An event envelope and every attempt at delivering it (first try, retries, redeliveries).

    ``attempts`` is empty when there was nowhere to deliver (no ``events_url`` and no socket).
    """

    event_id: str
    envelope: JSON  # the Events API envelope, or the interaction / slash-command payload
    body: bytes
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    kind: Literal["events_api", "interactive", "slash_commands"] = "events_api"
    content_type: str = "application/json"

    @property
    def event(self) -> JSON:
        """The ``event`` of an Events API envelope (``{}`` for interactions and commands)."""
        event: JSON = self.envelope.get("event", {})
        return event

    @property
    def response(self) -> JSON | None:
        """What the app answered (HTTP body or socket ack ``payload``) when it was JSON."""
        if not self.ok:
            return None
        try:
            data = json.loads(self.attempts[-1].body or "null")
        except ValueError:
            return None
        if isinstance(data, dict) and self.attempts[-1].transport == "socket":
            data = data.get("payload")
        return data if isinstance(data, dict) else None

    @property
    def status(self) -> int | None:
        """HTTP status of the last attempt (None: no attempt, or no answer)."""
        return self.attempts[-1].status if self.attempts else None

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].ok


class PostedMessage(str):
    """The ts of a message posted by :meth:`SlackEmulator.post_message` (a plain ``str``),
    carrying the :class:`Delivery` of its ``message`` event as ``.delivery``."""

    delivery: Delivery

    def __new__(cls, ts: str, delivery: Delivery) -> PostedMessage:
        obj = super().__new__(cls, ts)
        obj.delivery = delivery
        return obj


@dataclass
class RawResponse:
    """What the app answered to :meth:`SlackEmulator.deliver_raw`."""

    status: int | None
    body: str
    headers: dict[str, str]


@dataclass
class ResponseUrlPost:
    """One POST the app made to a ``response_url`` (of a button click or slash command)."""

    key: str
    payload: JSON
    status: int
    error: str | None
    time: float


@dataclass
class _ResponseTarget:
    channel: str
    user: str
    message_ts: str | None
    thread_ts: str | None
    uses: int = 0


@dataclass
class _SocketConnection:
    ws: web.WebSocketResponse
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: dict[str, asyncio.Future[JSON]] = field(default_factory=dict)


Handler = Callable[[dict[str, Any]], Awaitable[JSON]]


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _json_param(value: Any, error: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise SlackError(error) from None
    return value


class SlackEmulator:
    """Slack Web API + Events API (+ Socket Mode) emulator. See the module docstring.

    ``retry_delays`` are the waits before retries 1..3 (Slack waits about 0 s, 1 min, 5 min);
    ``delivery_timeout`` is how long a delivery waits for the app (Slack: 3 s).
    ``post_rate_limit`` (off by default) enforces Slack's per-channel ``chat.postMessage``
    limit ("1 per second per channel, short bursts allowed"): that many messages per second
    per channel (thread replies included) after a burst of ``post_burst``, then HTTP 429 with
    ``Retry-After`` (whole seconds) and ``{"ok": false, "error": "ratelimited"}``; the message
    is not posted. ``update_rate_per_minute`` (off by default) enforces ``chat.update``'s Tier
    3 (50+ per minute per app and workspace) the same way. :meth:`rate_limited` lists the
    calls answered 429.
    """

    def __init__(
        self,
        *,
        signing_secret: str,
        bot_token: str,
        events_url: str | None = None,
        app_token: str | None = None,
        team_id: str = "T0001",
        team_name: str = "Emulated Workspace",
        team_domain: str = "emulated",
        app_id: str = "A0001",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        bot_name: str = "assistant",
        users: Iterable[EmulatedUser] = (),
        usergroups: Mapping[str, Sequence[str]] | None = None,
        channels: Sequence[str] = ("C1",),
        retry_delays: Sequence[float] = (0.05, 0.1, 0.2),
        delivery_timeout: float = 3.0,
        echo_bot_events: bool = True,
        verification_token: str = "emulated-verification-token",
        post_rate_limit: float | None = None,
        post_burst: int = 3,
        update_rate_per_minute: float | None = None,
        custom_emoji: Iterable[str] = ("partyparrot", "brand-logo"),
    ) -> None:
        self.signing_secret = signing_secret
        self.custom_emoji = frozenset(custom_emoji)
        self.bot_token = bot_token
        self.events_url = events_url
        self.app_token = app_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.users: dict[str, EmulatedUser] = {u.id: u for u in users}
        self.usergroups: dict[str, list[str]] = {k: list(v) for k, v in (usergroups or {}).items()}
        self.channels: list[str] = list(channels)
        self.retry_delays: tuple[float, ...] = tuple(retry_delays)[:3]
        self.delivery_timeout = delivery_timeout
        self.echo_bot_events = echo_bot_events
        self.verification_token = verification_token
        self.post_rate_limit = post_rate_limit
        self.post_burst = post_burst
        self._post_buckets: dict[str, tuple[float, float]] = {}
        self.update_rate_per_minute = update_rate_per_minute
        self._bot_removed: set[str] = set()

        self.calls: list[ApiCall] = []
        self.messages: dict[tuple[str, str], EmulatedMessage] = {}
        self.ephemerals: list[Ephemeral] = []
        self.deliveries: list[Delivery] = []
        self.interactions: list[Delivery] = []
        self.responses: list[ResponseUrlPost] = []
        self.homes: dict[str, JSON] = {}  # user -> the Home tab view last published
        self._response_urls: dict[str, _ResponseTarget] = {}

        self._faults: dict[str, FaultQueue] = {}
        self._last_ts_us = 0
        self._server = ServerHandle()
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._tickets: set[str] = set()
        self._sockets: list[_SocketConnection] = []
        self._socket_waiters: list[asyncio.Future[None]] = []
        self._methods: dict[str, Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
            "reactions.get": self._reactions_get,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "views.publish": self._views_publish,
        }
        self.files: dict[str, EmulatedFile] = {}
        """Files by id: reserved by files.getUploadURLExternal, bytes POSTed to the upload
        URL, shared in a channel by files.completeUploadExternal (Slack's upload flow)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the Web API (and the Socket Mode websocket) on host:port (0: a free port)."""
        app = web.Application(client_max_size=2 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/link/", self._handle_socket)
        app.router.add_post("/response/{key}", self._handle_response_url)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        self._session = aiohttp.ClientSession()
        try:
            await self._server.start(app, host, port)
        except BaseException:
            await self._session.close()
            self._session = None
            raise

    async def stop(self) -> None:
        """Close socket connections, cancel in-flight deliveries, stop serving."""
        for conn in list(self._sockets):
            await conn.ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server stopping")
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.stop()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running emulator."""
        return self._server.url()

    @property
    def api_url(self) -> str:
        """The Web API base URL (``http://host:port/api/``): the app's ``SLACK_API_URL``."""
        return self._server.url() + "/api/"

    # ------------------------------------------------------------------ test controls

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls to ``method`` (``"*"``: any) get HTTP 429 +
        ``Retry-After: <retry_after>`` and ``{"ok": false, "error": "ratelimited"}``."""
        self._faults.setdefault(method, FaultQueue()).add(
            Fault("ratelimit", times, status=429, error="ratelimited", seconds=retry_after)
        )

    def fail(
        self, method: str, times: int = 1, status: int = 500, error: str = "internal_error"
    ) -> None:
        """The next ``times`` calls to ``method`` (``"*"``: any) answer HTTP ``status`` with
        ``{"ok": false, "error": error}`` (with status 200: a plain Slack API error)."""
        self._faults.setdefault(method, FaultQueue()).add(
            Fault("fail", times, status=status, error=error)
        )

    def fail_after_commit(
        self,
        method: str,
        times: int = 1,
        status: int = 500,
        error: str = "internal_error",
        *,
        when: Callable[[JSON], bool] | None = None,
    ) -> None:
        """The next ``times`` calls to ``method`` (whose parameters satisfy ``when``, if
        given) are processed (a message is posted…) but answered HTTP ``status`` with
        ``{"ok": false, "error": error}``: the partial success Slack documents for 5xx
        answers. The :class:`ApiCall` keeps ``committed: true``."""
        self._faults.setdefault(method, FaultQueue()).add(
            Fault("after_commit", times, status=status, error=error, when=when)
        )

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` are answered (normally) after ``seconds``."""
        self._faults.setdefault(method, FaultQueue()).add(Fault("slow", times, seconds=seconds))

    def drop_after_commit(
        self, method: str, times: int = 1, *, when: Callable[[JSON], bool] | None = None
    ) -> None:
        """The next ``times`` calls to ``method`` (whose parameters satisfy ``when``, if
        given) are processed, then the connection is dropped without an answer (the caller
        cannot know what happened)."""
        self._faults.setdefault(method, FaultQueue()).add(
            Fault("drop_after_commit", times, status=0, error="connection_dropped", when=when)
        )

    def remove_bot(self, channel: str) -> None:
        """The bot is removed from ``channel``: posting, updating or reacting there answers
        ``not_in_channel`` (reading too, as for a private channel)."""
        self._bot_removed.add(channel)

    def direct_messages(self, user: str) -> list[EmulatedMessage]:
        """The bot's live messages in its direct conversation with ``user``, by ts."""
        return self.bot_messages(dm_channel(user))

    def clear_faults(self) -> None:
        self._faults.clear()

    def calls_to(self, method: str) -> list[ApiCall]:
        """The logged calls to one Web API method, in order."""
        return [c for c in self.calls if c.method == method]

    def message(self, channel: str, ts: str) -> EmulatedMessage:
        """The stored message (KeyError if unknown)."""
        return self.messages[(channel, ts)]

    def thread(
        self, channel: str, ts: str, *, include_deleted: bool = False
    ) -> list[EmulatedMessage]:
        """The thread of ``ts`` (a parent or any reply): parent first, then replies by ts."""
        root = self.messages.get((channel, ts))
        if root is None:
            return []
        parent_ts = root.thread_ts or root.ts
        out = [
            m
            for (ch, _), m in self.messages.items()
            if ch == channel
            and (m.ts == parent_ts or m.thread_ts == parent_ts)
            and (include_deleted or not m.deleted)
        ]
        out.sort(key=lambda m: (m.ts != parent_ts, m.ts))
        return out

    def channel_messages(
        self, channel: str, *, include_deleted: bool = False
    ) -> list[EmulatedMessage]:
        """All messages of a channel (top-level and replies) by ts."""
        return sorted(
            (
                m
                for (ch, _), m in self.messages.items()
                if ch == channel and (include_deleted or not m.deleted)
            ),
            key=lambda m: m.ts,
        )

    def bot_messages(self, channel: str | None = None) -> list[EmulatedMessage]:
        """The app's own live messages (optionally in one channel), by ts."""
        return sorted(
            (
                m
                for m in self.messages.values()
                if m.by_bot and not m.deleted and (channel is None or m.channel == channel)
            ),
            key=lambda m: m.ts,
        )

    def delivery(self, event_id: str) -> Delivery:
        for d in self.deliveries:
            if d.event_id == event_id:
                return d
        raise KeyError(event_id)

    def add_user(self, user: EmulatedUser) -> None:
        self.users[user.id] = user

    def add_channel(self, channel: str) -> None:
        if channel not in self.channels:
            self.channels.append(channel)

    def new_ts(self) -> str:
        """A fresh message ts: unique, increasing, Slack's ``"1764000000.000100"`` format."""
        now_us = int(time.time() * 1_000_000)
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        seconds, micros = divmod(self._last_ts_us, 1_000_000)
        return f"{seconds}.{micros:06d}"

    # ------------------------------------------------------------------ humans (events)

    async def post_message(
        self, user: str, text: str, *, channel: str, thread_ts: str | None = None
    ) -> PostedMessage:
        """A human posts ``text`` (Slack's wire format: ``&``, ``<``, ``>`` as the client sends
        them) in ``channel`` (in the thread of ``thread_ts`` if given); stores it, delivers the
        ``message`` event and returns its ts (with ``.delivery``)."""
        self._check_human(user, channel)
        parent = self._thread_parent(channel, thread_ts) if thread_ts else None
        text, rich = human_message(text, self.custom_emoji)
        msg = EmulatedMessage(
            channel=channel,
            ts=self.new_ts(),
            user=user,
            text=text,
            blocks=[rich],
            thread_ts=parent.ts if parent else thread_ts,
        )
        self._store(msg)
        event = self._message_event(msg)
        event["client_msg_id"] = str(uuid.uuid4())
        delivery = await self._emit(event)
        return PostedMessage(msg.ts, delivery)

    async def edit_message(self, channel: str, ts: str, text: str) -> Delivery:
        """The author edits a message: a ``message_changed`` event (hidden, with ``message``
        and ``previous_message``, like Slack)."""
        msg = self._live_message(channel, ts)
        previous = self._message_json(msg)
        edit_ts = self.new_ts()
        msg.history.append(MessageVersion(msg.text, msg.blocks, edit_ts, msg.user))
        if msg.by_bot:
            msg.text = text
        else:
            msg.text, rich = human_message(text, self.custom_emoji)
            msg.blocks = [rich]
        msg.edited = {"user": msg.user, "ts": edit_ts}
        return await self._emit(self._changed_event(msg, previous, edit_ts))

    async def delete_message(self, channel: str, ts: str) -> Delivery:
        """The author deletes a message: a ``message_deleted`` event with ``deleted_ts`` and
        ``previous_message``."""
        msg = self._live_message(channel, ts)
        previous = self._message_json(msg)
        msg.deleted = True
        return await self._emit(self._deleted_event(msg, previous))

    async def add_reaction(self, user: str, channel: str, ts: str, name: str) -> Delivery:
        """A human reacts (``name`` as Slack sends it, e.g. ``+1::skin-tone-3``):
        ``reaction_added``. ValueError if that user already reacted with that name."""
        self._check_human(user, channel)
        msg = self._live_message(channel, ts)
        name = _REACTION_ALIASES.get(name, name)
        users = msg.reactions.setdefault(name, [])
        if user in users:
            raise ValueError("already_reacted")
        users.append(user)
        return await self._emit(self._reaction_event("reaction_added", user, msg, name))

    async def remove_reaction(self, user: str, channel: str, ts: str, name: str) -> Delivery:
        """A human removes a reaction: ``reaction_removed``. ValueError if there was none."""
        self._check_human(user, channel)
        msg = self._live_message(channel, ts)
        name = _REACTION_ALIASES.get(name, name)
        if user not in msg.reactions.get(name, []):
            raise ValueError("no_reaction")
        self._drop_reaction(msg, name, user)
        return await self._emit(self._reaction_event("reaction_removed", user, msg, name))

    async def open_home(self, user: str) -> Delivery:
        """A human opens the app's Home tab: an ``app_home_opened`` event."""
        if user not in self.users:
            raise ValueError(f"unknown user {user!r}")
        event: JSON = {
            "type": "app_home_opened",
            "user": user,
            "channel": dm_channel(user),
            "tab": "home",
            "event_ts": self.new_ts(),
        }
        if user in self.homes:
            event["view"] = {"id": f"V{user[1:]}", "type": "home"}
        return await self._emit(event)

    async def send_event(self, event: JSON) -> Delivery:
        """Deliver an arbitrary ``event`` object (wrapped in a fresh envelope)."""
        return await self._emit(dict(event))

    async def click_button(
        self, user: str, channel: str, ts: str, action_id: str, *, value: str | None = None
    ) -> Delivery:
        """A human clicks the block element ``action_id`` of a message: a ``block_actions``
        payload (form field ``payload``, signed; over the socket as ``interactive``), not
        retried, like Slack. ValueError if the message has no such element. Responses to its
        ``response_url`` land in :attr:`responses` (and act on the message or channel)."""
        self._check_human(user, channel)
        msg = self._live_message(channel, ts)
        block_id, element = _find_element(msg.blocks or [], action_id)
        action: JSON = {
            "action_id": action_id,
            "block_id": block_id,
            "type": element.get("type", "button"),
            "action_ts": self.new_ts(),
        }
        if "text" in element:
            action["text"] = element["text"]
        if value is not None or "value" in element:
            action["value"] = value if value is not None else element["value"]
        container: JSON = {
            "type": "message",
            "message_ts": msg.ts,
            "channel_id": channel,
            "is_ephemeral": False,
        }
        if msg.thread_ts:
            container["thread_ts"] = msg.thread_ts
        payload: JSON = {
            "type": "block_actions",
            "user": self._payload_user(user),
            "api_app_id": self.app_id,
            "token": self.verification_token,
            "container": container,
            "trigger_id": self._trigger_id(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": channel.lower()},
            "message": self._message_json(msg),
            "state": {"values": {}},
            "response_url": self._response_url(channel, user, msg.ts, msg.thread_ts),
            "actions": [action],
        }
        body = urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode()
        return await self._interact("interactive", payload, body)

    async def slash_command(
        self, user: str, command: str, text: str = "", *, channel: str
    ) -> Delivery:
        """A human runs ``/command text`` in ``channel``: Slack's form-encoded, signed command
        request (over the socket as ``slash_commands``), not retried. A JSON answer with
        ``text``/``blocks`` is shown like Slack shows it: ephemeral (recorded in
        :attr:`ephemerals`) or, with ``response_type: in_channel``, posted by the bot."""
        self._check_human(user, channel)
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": self.users[user].name,
            "command": command if command.startswith("/") else "/" + command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(channel, user, None, None),
            "trigger_id": self._trigger_id(),
        }
        delivery = await self._interact("slash_commands", dict(fields), urlencode(fields).encode())
        answer = delivery.response
        if answer is None and delivery.ok and delivery.attempts[-1].transport == "http":
            body = delivery.attempts[-1].body.strip()  # a plain-text answer is the message text
            answer = {"text": body} if body and not body.startswith("{") else None
        if answer and (answer.get("text") or answer.get("blocks")):
            self._show_response(
                self._response_urls[fields["response_url"].rsplit("/", 1)[1]], answer
            )
        return delivery

    async def _interact(
        self, kind: Literal["interactive", "slash_commands"], payload: JSON, body: bytes
    ) -> Delivery:
        delivery = Delivery(
            str(payload["trigger_id"]),
            payload,
            body,
            kind=kind,
            content_type="application/x-www-form-urlencoded",
        )
        self.interactions.append(delivery)
        task = asyncio.create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)
        return delivery

    def _payload_user(self, user: str) -> JSON:
        u = self.users[user]
        return {"id": u.id, "username": u.name, "name": u.name, "team_id": self.team_id}

    def _trigger_id(self) -> str:
        return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex[:32]}"

    def _response_url(
        self, channel: str, user: str, message_ts: str | None, thread_ts: str | None
    ) -> str:
        key = uuid.uuid4().hex
        self._response_urls[key] = _ResponseTarget(channel, user, message_ts, thread_ts)
        return f"{self.base_url}/response/{key}"

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        try:
            payload = json.loads(await request.read())
        except ValueError:
            payload = None
        target = self._response_urls.get(key)
        error: str | None = None
        if target is None:
            error = "expired_url"
        elif not isinstance(payload, dict):
            error = "invalid_payload"
        elif target.uses >= 5:
            error = "used_url"
        elif not (payload.get("text") or payload.get("blocks") or payload.get("delete_original")):
            error = "no_text"
        self.responses.append(
            ResponseUrlPost(
                key, payload if isinstance(payload, dict) else {}, 200, error, time.time()
            )
        )
        if error is not None:
            status = 404 if error == "expired_url" else 400 if error != "used_url" else 410
            self.responses[-1].status = status
            return json_response({"ok": False, "error": error}, status=status)
        assert target is not None and isinstance(payload, dict)
        target.uses += 1
        try:
            self._show_response(target, payload)
        except SlackError as exc:
            self.responses[-1].status, self.responses[-1].error = 400, exc.error
            return json_response({"ok": False, "error": exc.error}, status=400)
        return json_response({"ok": True})

    def _show_response(self, target: _ResponseTarget, payload: JSON) -> None:
        """Apply a response_url post (or a slash command's answer) as Slack would."""
        original = (
            self.messages.get((target.channel, target.message_ts)) if target.message_ts else None
        )
        if _truthy(payload.get("delete_original", False)):
            if original is None or original.deleted:
                raise SlackError("message_not_found")
            self._bot_delete(original)
            return
        if _truthy(payload.get("replace_original", False)) and original is not None:
            text, blocks, attachments = self._content(payload)
            self._bot_update(original, text, blocks, attachments, "blocks" in payload)
            return
        if payload.get("response_type") == "in_channel":
            params = dict(payload)
            if target.thread_ts and "thread_ts" not in params:
                params["thread_ts"] = target.thread_ts
            self._bot_post(target.channel, params)
            return
        text, blocks, _ = self._content(payload)
        thread_ts = payload.get("thread_ts") or target.thread_ts
        self.ephemerals.append(
            Ephemeral(target.channel, target.user, text, blocks, thread_ts, self.new_ts())
        )

    async def drain(self) -> None:
        """Wait until every in-flight delivery (including bot echoes) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def redeliver(self, event_id: str, *, reason: str = "http_timeout") -> Delivery:
        """Send a delivered envelope again (same body and event_id) as Slack's retry 1 would,
        with ``X-Slack-Retry-Num: 1``; one attempt, appended to that :class:`Delivery`."""
        delivery = self.delivery(event_id)
        attempt = await self._attempt(delivery, 1, reason)
        if attempt is not None:
            delivery.attempts.append(attempt)
        return delivery

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """``X-Slack-Request-Timestamp`` and ``X-Slack-Signature`` headers for ``body``."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        base = b"v0:" + ts.encode() + b":" + body
        digest = hmac.new(self.signing_secret.encode(), base, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}

    async def deliver_raw(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        sign: bool = False,
        timestamp: int | None = None,
        url: str | None = None,
    ) -> RawResponse:
        """POST ``body`` to the events URL with exactly ``headers`` (plus a valid signature
        for ``timestamp`` if ``sign``): for signature, replay-window and malformed-body tests."""
        target = url or self.events_url
        if target is None:
            raise RuntimeError("no events_url")
        send: dict[str, str] = {"Content-Type": "application/json", "User-Agent": SLACK_USER_AGENT}
        if sign:
            send.update(self.sign(body, timestamp))
        send.update(headers or {})
        try:
            async with self._http().post(
                target,
                data=body,
                headers=send,
                timeout=aiohttp.ClientTimeout(total=self.delivery_timeout),
                allow_redirects=False,
            ) as resp:
                return RawResponse(resp.status, await resp.text(), dict(resp.headers))
        except (TimeoutError, aiohttp.ClientError) as exc:
            return RawResponse(None, repr(exc), {})

    async def verify_url(self) -> RawResponse:
        """Send the ``url_verification`` challenge Slack sends when the request URL is set."""
        body = json.dumps(
            {
                "token": self.verification_token,
                "challenge": uuid.uuid4().hex,
                "type": "url_verification",
            }
        ).encode()
        return await self.deliver_raw(body, sign=True)

    # ------------------------------------------------------------------ socket mode

    @property
    def socket_connected(self) -> bool:
        return bool(self._sockets)

    async def wait_for_socket(self, within: float = 5.0) -> None:
        """Wait until a Socket Mode client is connected (and has been sent ``hello``)."""
        if self._sockets:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._socket_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, within)
        finally:
            if fut in self._socket_waiters:
                self._socket_waiters.remove(fut)

    async def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message to every socket client, then close them."""
        for conn in list(self._sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.ws.send_json(
                    {
                        "type": "disconnect",
                        "reason": reason,
                        "debug_info": {"host": "emulator"},
                    }
                )
            await conn.ws.close()

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _SocketConnection(ws)
        self._sockets.append(conn)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {
                        "host": "emulator",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": self.app_id},
                }
            )
            for waiter in self._socket_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                fut = conn.pending.pop(str(data.get("envelope_id", "")), None)
                if fut is not None and not fut.done():
                    fut.set_result(data)
        finally:
            if conn in self._sockets:
                self._sockets.remove(conn)
            for fut in conn.pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("socket closed"))
        return ws

    # ------------------------------------------------------------------ delivery

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("SlackEmulator is not started")
        return self._session

    def _envelope(self, event: JSON) -> JSON:
        event.setdefault("event_ts", event.get("ts") or self.new_ts())
        event_id = "Ev" + uuid.uuid4().hex[:10].upper()
        context = base64.urlsafe_b64encode(
            json.dumps({"tid": self.team_id, "aid": self.app_id, "eid": event_id}).encode()
        ).decode()
        return {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(float(event["event_ts"])),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + context.rstrip("="),
        }

    async def _emit(self, event: JSON) -> Delivery:
        """Wrap, record and deliver one event; returns when delivery (with retries) is over."""
        envelope = self._envelope(event)
        body = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
        delivery = Delivery(envelope["event_id"], envelope, body)
        self.deliveries.append(delivery)
        task = asyncio.create_task(self._deliver(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)
        return delivery

    def _emit_background(self, event: JSON) -> None:
        """Bot echoes: delivered in the background (``drain()`` waits for them)."""
        task = asyncio.create_task(self._emit(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, delivery: Delivery) -> None:
        retry_num, reason = 0, ""
        retries = len(self.retry_delays) if delivery.kind == "events_api" else 0
        while True:
            attempt = await self._attempt(delivery, retry_num, reason)
            if attempt is None:
                return
            delivery.attempts.append(attempt)
            if attempt.ok or attempt.no_retry or retry_num >= retries:
                return
            await asyncio.sleep(self.retry_delays[retry_num])
            retry_num, reason = retry_num + 1, attempt.failure

    async def _attempt(
        self, delivery: Delivery, retry_num: int, reason: str
    ) -> DeliveryAttempt | None:
        if self._sockets:
            return await self._socket_attempt(self._sockets[-1], delivery, retry_num, reason)
        if self.events_url is None:
            return None
        headers = {"Content-Type": delivery.content_type, "User-Agent": SLACK_USER_AGENT}
        headers.update(self.sign(delivery.body))
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = reason
        try:
            async with self._http().post(
                self.events_url,
                data=delivery.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.delivery_timeout),
                allow_redirects=False,
            ) as resp:
                text = await resp.text()
                ok = 200 <= resp.status < 300
                return DeliveryAttempt(
                    "http",
                    retry_num,
                    reason,
                    resp.status,
                    text,
                    failure="" if ok else "http_error",
                    no_retry=resp.headers.get("X-Slack-No-Retry") == "1",
                )
        except TimeoutError:
            return DeliveryAttempt("http", retry_num, reason, None, failure="http_timeout")
        except aiohttp.ClientError as exc:
            return DeliveryAttempt(
                "http", retry_num, reason, None, repr(exc), failure="connection_failed"
            )

    async def _socket_attempt(
        self, conn: _SocketConnection, delivery: Delivery, retry_num: int, reason: str
    ) -> DeliveryAttempt:
        envelope_id = str(uuid.uuid4())
        fut: asyncio.Future[JSON] = asyncio.get_running_loop().create_future()
        conn.pending[envelope_id] = fut
        message: JSON = {
            "envelope_id": envelope_id,
            "payload": delivery.envelope,
            "type": delivery.kind,
            "accepts_response_payload": delivery.kind == "slash_commands",
        }
        if delivery.kind == "events_api":
            message["retry_attempt"] = retry_num
            message["retry_reason"] = "timeout" if retry_num else ""
        try:
            async with conn.lock:
                await conn.ws.send_str(json.dumps(message, ensure_ascii=False))
            ack = await asyncio.wait_for(fut, self.delivery_timeout)
            return DeliveryAttempt("socket", retry_num, reason, 200, json.dumps(ack))
        except TimeoutError:
            return DeliveryAttempt("socket", retry_num, reason, None, failure="timeout")
        except (ConnectionError, RuntimeError) as exc:
            return DeliveryAttempt(
                "socket", retry_num, reason, None, repr(exc), failure="connection_failed"
            )
        finally:
            conn.pending.pop(envelope_id, None)

    # ------------------------------------------------------------------ event shapes

    def _message_json(self, msg: EmulatedMessage, *, with_reactions: bool = True) -> JSON:
        """A message object as the Web API and events show it."""
        out: JSON = {"type": "message", "text": msg.text, "user": msg.user, "ts": msg.ts}
        if msg.bot_id:
            out["bot_id"] = msg.bot_id
            out["app_id"] = msg.app_id
            out["bot_profile"] = self._bot_profile()
        if msg.reply_broadcast:
            out["subtype"] = "thread_broadcast"
        out["team"] = self.team_id
        if msg.blocks is not None:
            out["blocks"] = msg.blocks
        if msg.files:
            out["files"] = msg.files
        if msg.attachments is not None:
            out["attachments"] = msg.attachments
        if msg.thread_ts is not None:
            out["thread_ts"] = msg.thread_ts
            if msg.is_reply:
                parent = self.messages.get((msg.channel, msg.thread_ts))
                if parent is not None:
                    out["parent_user_id"] = parent.user
            else:
                replies = [r for r in self.thread(msg.channel, msg.ts) if r.is_reply]
                if replies:
                    users = list(dict.fromkeys(r.user for r in replies))
                    out.update(
                        reply_count=len(replies),
                        reply_users_count=len(users),
                        latest_reply=replies[-1].ts,
                        reply_users=users,
                        is_locked=False,
                        subscribed=False,
                    )
        if msg.edited is not None:
            out["edited"] = dict(msg.edited)
        if with_reactions and msg.reactions:
            out["reactions"] = [
                {"name": name, "users": list(users), "count": len(users)}
                for name, users in msg.reactions.items()
                if users
            ]
            if not out["reactions"]:
                del out["reactions"]
        return out

    def _bot_profile(self) -> JSON:
        return {
            "id": self.bot_id,
            "app_id": self.app_id,
            "name": self.bot_name,
            "deleted": False,
            "team_id": self.team_id,
            "icons": {},
            "updated": 1700000000,
        }

    def _message_event(self, msg: EmulatedMessage) -> JSON:
        event = self._message_json(msg, with_reactions=False)
        event.pop("reply_count", None)
        for key in ("reply_users_count", "latest_reply", "reply_users", "is_locked", "subscribed"):
            event.pop(key, None)
        event["channel"] = msg.channel
        event["event_ts"] = msg.ts
        event["channel_type"] = "channel"
        return event

    def _changed_event(self, msg: EmulatedMessage, previous: JSON, edit_ts: str) -> JSON:
        return {
            "type": "message",
            "subtype": "message_changed",
            "message": self._message_json(msg),
            "previous_message": previous,
            "channel": msg.channel,
            "hidden": True,
            "ts": edit_ts,
            "event_ts": edit_ts,
            "channel_type": "channel",
        }

    def _deleted_event(self, msg: EmulatedMessage, previous: JSON) -> JSON:
        ts = self.new_ts()
        return {
            "type": "message",
            "subtype": "message_deleted",
            "previous_message": previous,
            "channel": msg.channel,
            "hidden": True,
            "deleted_ts": msg.ts,
            "ts": ts,
            "event_ts": ts,
            "channel_type": "channel",
        }

    def _reaction_event(self, kind: str, user: str, msg: EmulatedMessage, name: str) -> JSON:
        return {
            "type": kind,
            "user": user,
            "reaction": name,
            "item_user": msg.user,
            "item": {"type": "message", "channel": msg.channel, "ts": msg.ts},
            "event_ts": self.new_ts(),
        }

    # ------------------------------------------------------------------ storage helpers

    def _check_human(self, user: str, channel: str) -> None:
        if user not in self.users:
            raise ValueError(f"unknown user {user!r}")
        if channel not in self.channels:
            raise ValueError(f"unknown channel {channel!r}")

    def _live_message(self, channel: str, ts: str) -> EmulatedMessage:
        msg = self.messages.get((channel, ts))
        if msg is None or msg.deleted:
            raise ValueError(f"no message {channel}/{ts}")
        return msg

    def _thread_parent(self, channel: str, thread_ts: str) -> EmulatedMessage | None:
        target = self.messages.get((channel, thread_ts))
        if target is None:
            return None
        if target.is_reply and target.thread_ts is not None:
            return self.messages.get((channel, target.thread_ts))
        return target

    def _store(self, msg: EmulatedMessage) -> None:
        self.messages[(msg.channel, msg.ts)] = msg
        if msg.is_reply and msg.thread_ts is not None:
            parent = self.messages.get((msg.channel, msg.thread_ts))
            if parent is not None:
                parent.thread_ts = parent.ts

    @staticmethod
    def _drop_reaction(msg: EmulatedMessage, name: str, user: str) -> None:
        users = msg.reactions.get(name, [])
        if user in users:
            users.remove(user)
        if not users:
            msg.reactions.pop(name, None)

    # ------------------------------------------------------------------ Web API plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params, auth_token, parse_error = await self._read_params(request)
        logged = {k: v for k, v in params.items() if k != "token"}
        call = ApiCall(method, logged, time.time(), request.method)
        self.calls.append(call)
        answer = call.answer
        handler = self._methods.get(method)
        if handler is None:
            return answer({"ok": False, "error": "unknown_method", "req_method": method}, 404)
        fault = self._take_fault(method, params)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind in ("after_commit", "drop_after_commit"):
            response = await self._handle_api_call(
                method, handler, params, auth_token, parse_error, call
            )
            if not call.ok:
                return response  # the call failed anyway: Slack's answer gets through
            call.ok, call.error = False, fault.error
            call.response = {"ok": False, "error": fault.error, "committed": True}
            if fault.kind == "drop_after_commit" and request.transport is not None:
                request.transport.abort()  # the connection drops: no answer at all
                call.status = 0
                return response
            call.status = fault.status
            return json_response({"ok": False, "error": fault.error}, status=fault.status)
        if fault is not None:
            body = {"ok": False, "error": fault.error}
            if fault.kind == "ratelimit":
                return answer(body, 429, {"Retry-After": str(int(fault.seconds))})
            return answer(body, fault.status)
        return await self._handle_api_call(method, handler, params, auth_token, parse_error, call)

    async def _handle_api_call(
        self,
        method: str,
        handler: Handler,
        params: dict[str, Any],
        auth_token: str,
        parse_error: str,
        call: ApiCall,
    ) -> web.Response:
        answer = call.answer
        if parse_error:
            return answer({"ok": False, "error": parse_error})
        token = auth_token or str(params.get("token") or "")
        if not token:
            return answer({"ok": False, "error": "not_authed"})
        if token not in {self.bot_token, self.app_token}:
            return answer({"ok": False, "error": "invalid_auth"})
        is_app_token = token == self.app_token
        if is_app_token != (method == "apps.connections.open"):
            return answer({"ok": False, "error": "not_allowed_token_type"})
        try:
            result = await handler(params)
        except SlackError as exc:
            return answer({"ok": False, "error": exc.error})
        except _RateLimited as exc:
            body = {"ok": False, "error": "ratelimited"}
            return answer(body, 429, {"Retry-After": str(exc.retry_after)})
        return answer({"ok": True, **result})

    def _take_fault(self, method: str, params: JSON) -> Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue is not None:
                fault = queue.take(params=params)
                if fault is not None:
                    return fault
        return None

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[dict[str, Any], str, str]:
        """Query + body parameters, the bearer token, and a parse error (or "")."""
        params: dict[str, Any] = {k: v for k, v in request.query.items()}
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                raw = await request.read()
                try:
                    data = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    return params, token, "invalid_json"
                if not isinstance(data, dict):
                    return params, token, "invalid_json"
                data.pop("token", None)  # Slack ignores a token in a JSON body
                params.update(data)
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params, token, ""

    def _channel(self, params: Mapping[str, Any], key: str = "channel") -> str:
        channel = str(params.get(key) or "")
        if channel[:1] in ("U", "W") and channel in self.users:
            channel = dm_channel(channel)  # a user id as channel: the app's DM with them
            self.add_channel(channel)
        if channel not in self.channels:
            raise SlackError("channel_not_found")
        if channel in self._bot_removed:
            raise SlackError("not_in_channel")
        return channel

    def _find(self, channel: str, ts: Any) -> EmulatedMessage:
        msg = self.messages.get((channel, str(ts or "")))
        if msg is None or msg.deleted:
            raise SlackError("message_not_found")
        return msg

    @staticmethod
    def _content(params: Mapping[str, Any]) -> tuple[str, list[Any] | None, list[Any] | None]:
        text = params.get("text")
        text = "" if text is None else str(text)
        if not text and params.get("markdown_text"):
            text = str(params["markdown_text"])
        blocks = attachments = None
        if params.get("blocks") not in (None, ""):
            blocks = _json_param(params["blocks"], "invalid_blocks_format")
            if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
                raise SlackError("invalid_blocks_format")
            if len(blocks) > MAX_BLOCKS or any("type" not in b for b in blocks):
                raise SlackError("invalid_blocks")
        if params.get("attachments") not in (None, ""):
            attachments = _json_param(params["attachments"], "invalid_attachments")
            if not isinstance(attachments, list):
                raise SlackError("invalid_attachments")
        if len(text) > MAX_TEXT_CHARS:
            raise SlackError("msg_too_long")
        return text, blocks, attachments

    # ------------------------------------------------------------------ Web API methods

    async def _api_test(self, params: dict[str, Any]) -> JSON:
        return {"args": {k: v for k, v in params.items() if k != "token"}}

    async def _auth_test(self, params: dict[str, Any]) -> JSON:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    async def _chat_post_message(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        self._check_post_rate(channel)
        return self._bot_post(channel, params)

    def _check_post_rate(self, channel: str) -> None:
        if self.post_rate_limit is not None:
            self._take("post:" + channel, self.post_rate_limit, float(self.post_burst))

    def _take(self, bucket: str, rate: float, burst: float) -> None:
        """A token of ``bucket`` (``rate`` per second, ``burst`` at most) or _RateLimited."""
        now = time.monotonic()
        tokens, last = self._post_buckets.get(bucket, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._post_buckets[bucket] = (tokens, now)
            raise _RateLimited(max(1, math.ceil((1.0 - tokens) / rate)))
        self._post_buckets[bucket] = (tokens - 1.0, now)

    def rate_limited(self, method: str | None = None) -> list[ApiCall]:
        """The calls (to ``method``, or any) answered HTTP 429."""
        return [c for c in self.calls if c.status == 429 and method in (None, c.method)]

    def _bot_post(self, channel: str, params: Mapping[str, Any]) -> JSON:
        text, blocks, attachments = self._content(params)
        if not text and blocks is None and not attachments:
            raise SlackError("no_text")
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        if thread_ts is not None and not _TS.match(thread_ts):
            raise SlackError("invalid_thread_ts")
        if thread_ts is not None:
            parent = self._thread_parent(channel, thread_ts)
            if parent is not None:
                thread_ts = parent.ts
        metadata = None
        if params.get("metadata") not in (None, ""):
            metadata = _json_param(params["metadata"], "invalid_metadata_format")
            if not isinstance(metadata, dict) or "event_type" not in metadata:
                raise SlackError("invalid_metadata_format")
        msg = EmulatedMessage(
            channel=channel,
            ts=self.new_ts(),
            user=self.bot_user_id,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=thread_ts,
            bot_id=self.bot_id,
            app_id=self.app_id,
            reply_broadcast=thread_ts is not None and _truthy(params.get("reply_broadcast", False)),
            metadata=metadata,
            unfurl_links=_truthy(params["unfurl_links"]) if "unfurl_links" in params else None,
            unfurl_media=_truthy(params["unfurl_media"]) if "unfurl_media" in params else None,
        )
        self._store(msg)
        if self.echo_bot_events:
            self._emit_background(self._message_event(msg))
        return {"channel": channel, "ts": msg.ts, "message": self._message_json(msg)}

    async def _chat_update(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        if self.update_rate_per_minute is not None:  # Tier 3: per app and workspace
            rate = self.update_rate_per_minute
            self._take("update", rate / 60.0, max(1.0, rate / 6))
        msg = self._find(channel, params.get("ts"))
        if msg.user != self.bot_user_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._content(params)
        if not text and blocks is None and not attachments:
            raise SlackError("no_text")
        self._bot_update(msg, text, blocks, attachments, "blocks" in params)
        return {
            "channel": channel,
            "ts": msg.ts,
            "text": msg.text,
            "message": self._message_json(msg),
        }

    def _bot_update(
        self,
        msg: EmulatedMessage,
        text: str,
        blocks: list[Any] | None,
        attachments: list[Any] | None,
        blocks_given: bool,
    ) -> None:
        previous = self._message_json(msg)
        edit_ts = self.new_ts()
        msg.history.append(MessageVersion(msg.text, msg.blocks, edit_ts, self.bot_user_id))
        msg.text = text
        if blocks is not None or blocks_given:
            msg.blocks = blocks
        if attachments is not None:
            msg.attachments = attachments
        msg.edited = {"user": self.bot_user_id, "ts": edit_ts}
        if self.echo_bot_events:
            self._emit_background(self._changed_event(msg, previous, edit_ts))

    def _bot_delete(self, msg: EmulatedMessage) -> None:
        previous = self._message_json(msg)
        msg.deleted = True
        if self.echo_bot_events:
            self._emit_background(self._deleted_event(msg, previous))

    async def _chat_delete(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        msg = self._find(channel, params.get("ts"))
        if msg.user != self.bot_user_id:
            raise SlackError("cant_delete_message")
        self._bot_delete(msg)
        return {"channel": channel, "ts": msg.ts}

    async def _chat_post_ephemeral(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        user = str(params.get("user") or "")
        if user not in self.users or self.users[user].deleted:
            raise SlackError("user_not_in_channel")
        text, blocks, attachments = self._content(params)
        if not text and blocks is None and not attachments:
            raise SlackError("no_text")
        ts = self.new_ts()
        thread_ts = str(params["thread_ts"]) if params.get("thread_ts") else None
        self.ephemerals.append(Ephemeral(channel, user, text, blocks, thread_ts, ts))
        return {"message_ts": ts}

    async def _chat_get_permalink(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        msg = self._find(channel, params.get("message_ts"))
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{msg.ts.replace('.', '')}"
        if msg.is_reply and msg.thread_ts:
            link += f"?thread_ts={quote(msg.thread_ts)}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _reaction_target(self, params: Mapping[str, Any]) -> tuple[EmulatedMessage, str]:
        if not params.get("channel") or not params.get("timestamp"):
            raise SlackError("no_item_specified")
        channel = self._channel(params)
        raw = str(params.get("name") or "").strip(":")
        if not raw or not _REACTION_NAME.match(raw):
            raise SlackError("invalid_name")
        msg = self._find(channel, params.get("timestamp"))
        return msg, _REACTION_ALIASES.get(raw, raw)

    async def _reactions_add(self, params: dict[str, Any]) -> JSON:
        msg, name = self._reaction_target(params)
        users = msg.reactions.setdefault(name, [])
        if self.bot_user_id in users:
            raise SlackError("already_reacted")
        users.append(self.bot_user_id)
        if self.echo_bot_events:
            self._emit_background(
                self._reaction_event("reaction_added", self.bot_user_id, msg, name)
            )
        return {}

    async def _reactions_remove(self, params: dict[str, Any]) -> JSON:
        msg, name = self._reaction_target(params)
        if self.bot_user_id not in msg.reactions.get(name, []):
            raise SlackError("no_reaction")
        self._drop_reaction(msg, name, self.bot_user_id)
        if self.echo_bot_events:
            self._emit_background(
                self._reaction_event("reaction_removed", self.bot_user_id, msg, name)
            )
        return {}

    async def _reactions_get(self, params: dict[str, Any]) -> JSON:
        if not params.get("channel") or not params.get("timestamp"):
            raise SlackError("no_item_specified")
        channel = self._channel(params)
        msg = self._find(channel, params.get("timestamp"))
        return {"type": "message", "channel": channel, "message": self._message_json(msg)}

    def _user_json(self, user: EmulatedUser) -> JSON:
        profile: JSON = {
            "display_name": user.display_name,
            "display_name_normalized": user.display_name,
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "team": self.team_id,
        }
        if user.is_bot:
            profile["bot_id"] = user.bot_id or f"B{user.id[1:]}"
        return {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "real_name": user.real_name,
            "tz": user.tz,
            "profile": profile,
            "is_admin": user.is_admin,
            "is_owner": False,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": 1700000000,
        }

    async def _users_info(self, params: dict[str, Any]) -> JSON:
        user_id = str(params.get("user") or "")
        if user_id == self.bot_user_id:
            bot = EmulatedUser(
                self.bot_user_id, self.bot_name, self.bot_name, "", is_bot=True, bot_id=self.bot_id
            )
            data = self._user_json(bot)
            data["profile"]["api_app_id"] = self.app_id
            data["profile"]["always_active"] = True
            return {"user": data}
        user = self.users.get(user_id)
        if user is None:
            raise SlackError("user_not_found")
        return {"user": self._user_json(user)}

    async def _usergroups_users_list(self, params: dict[str, Any]) -> JSON:
        group = str(params.get("usergroup") or "")
        if not group:
            raise SlackError("invalid_arguments")
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    async def _conversations_info(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        return {
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": True,
                "is_group": False,
                "is_im": False,
                "is_private": False,
                "is_archived": False,
                "is_member": True,
                "is_ext_shared": False,
                "context_team_id": self.team_id,
            }
        }

    @staticmethod
    def _page(
        items: list[JSON], params: Mapping[str, Any], default: int
    ) -> tuple[list[JSON], JSON]:
        try:
            limit = int(params.get("limit") or default)
        except ValueError:
            raise SlackError("invalid_limit") from None
        limit = max(1, min(limit, 1000))
        cursor = str(params.get("cursor") or "")
        start = 0
        if cursor:
            try:
                start = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
            except ValueError:
                raise SlackError("invalid_cursor") from None
        page = items[start : start + limit]
        more = start + limit < len(items)
        next_cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return page, {"has_more": more, "response_metadata": {"next_cursor": next_cursor}}

    async def _conversations_history(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or "inf")
        inclusive = _truthy(params.get("inclusive", False))
        with_metadata = _truthy(params.get("include_all_metadata", False))
        items = [
            self._message_json(m)
            | ({"metadata": m.metadata} if with_metadata and m.metadata else {})
            for m in reversed(self.channel_messages(channel))
            if (not m.is_reply or m.reply_broadcast)
            and (oldest < float(m.ts) < latest or (inclusive and float(m.ts) in (oldest, latest)))
        ]
        page, meta = self._page(items, params, 100)
        return {"messages": page, **meta}

    async def _conversations_replies(self, params: dict[str, Any]) -> JSON:
        channel = self._channel(params)
        ts = str(params.get("ts") or "")
        if not ts:
            raise SlackError("invalid_arguments")
        target = self.messages.get((channel, ts))
        if target is None:
            raise SlackError("thread_not_found")
        thread = self.thread(channel, ts, include_deleted=True)
        items: list[JSON] = []
        for m in thread:
            if m.deleted and m.is_reply:
                continue
            if m.deleted:  # a deleted parent with replies stays as a tombstone
                if len(thread) == 1:
                    raise SlackError("thread_not_found")
                items.append(
                    {
                        "type": "message",
                        "subtype": "tombstone",
                        "text": "This message was deleted.",
                        "user": "USLACKBOT",
                        "ts": m.ts,
                        "thread_ts": m.ts,
                        "hidden": True,
                    }
                )
                continue
            item = self._message_json(m)
            if m.metadata and _truthy(params.get("include_all_metadata", False)):
                item["metadata"] = m.metadata  # only on request, as Slack does
            items.append(item)
        page, meta = self._page(items, params, 1000)
        return {"messages": page, **meta}

    # ------------------------------------------------------------------ files (upload v2)

    async def _files_get_upload_url_external(self, params: dict[str, Any]) -> JSON:
        """Reserve a file: ``filename`` and ``length`` (bytes) are required, as in Slack."""
        filename = str(params.get("filename") or "")
        if not filename:
            raise SlackError("invalid_arguments")
        try:
            length = int(params.get("length", ""))
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if length <= 0 or length > MAX_UPLOAD_BYTES:
            raise SlackError("invalid_arguments")
        file_id = "F" + uuid.uuid4().hex[:10].upper()
        self.files[file_id] = EmulatedFile(file_id, filename, length, alt_txt=params.get("alt_txt"))
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL: the file's bytes in the body (raw or one multipart part)."""
        file = self.files.get(request.match_info["file_id"])
        if file is None or file.shared:
            return web.Response(status=404, text="Not Found")
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            data = await part.read() if isinstance(part, aiohttp.BodyPartReader) else b""
        else:
            data = await request.read()
        if len(data) != file.length:  # Slack refuses a body of another size than announced
            return web.Response(status=400, text=f"expected {file.length} bytes")
        file.content = data
        return web.Response(text=f"OK - {len(data)}")

    async def _files_complete_upload_external(self, params: dict[str, Any]) -> JSON:
        """Finish uploads and share them in ``channel_id`` with ``initial_comment``."""
        entries = _json_param(params.get("files"), "invalid_arguments")
        if not isinstance(entries, list) or not entries:
            raise SlackError("invalid_arguments")
        files: list[EmulatedFile] = []
        for entry in entries:
            file = self.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
            if file is None or file.content is None:
                raise SlackError("file_not_found")
            file.title = str(entry.get("title") or file.filename)
            files.append(file)
        out = [f.json() for f in files]
        channel_id = params.get("channel_id")
        if channel_id:
            channel = self._channel(params, "channel_id")
            self._check_post_rate(channel)
            post = {"text": str(params.get("initial_comment") or "")}
            if params.get("thread_ts"):
                post["thread_ts"] = str(params["thread_ts"])
            posted = self._bot_post(channel, {**post, "text": post["text"] or " "})
            msg = self._live_message(channel, str(posted["ts"]))
            msg.files = out
            for file in files:
                file.shared, file.channel, file.message_ts = True, channel, msg.ts
        return {"files": out}

    async def _views_publish(self, params: dict[str, Any]) -> JSON:
        """views.publish: a ``home`` view of at most 100 blocks for a known user."""
        user = str(params.get("user_id") or "")
        view = _json_param(params.get("view"), "invalid_arguments")
        if not user:
            raise SlackError("invalid_arguments")
        if user not in self.users or self.users[user].is_bot:
            raise SlackError("user_not_found")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise SlackError("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list) or len(blocks) > 100:
            raise SlackError("invalid_blocks")
        self.homes[user] = view
        return {"view": {"id": f"V{user[1:]}", "type": "home", "blocks": blocks}}

    async def _apps_connections_open(self, params: dict[str, Any]) -> JSON:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        url = f"{self._server.url('ws')}/link/?ticket={ticket}&app_id={self.app_id}"
        return {"url": url}


def dm_channel(user: str) -> str:
    """The id of the app's direct conversation with ``user`` in the emulator."""
    return "D" + user[1:]


def _find_element(blocks: Sequence[Any], action_id: str) -> tuple[str, JSON]:
    """The (block_id, element) of an interactive element of a message's blocks."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates = list(block.get("elements") or [])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return str(block.get("block_id") or uuid.uuid4().hex[:5]), element
    raise ValueError(f"no element with action_id {action_id!r} in the message")


# A few standard emoji, as Slack names them (the client sends a typed emoji as :name: in the
# message text and as an emoji element with its Unicode in the rich text).
STANDARD_EMOJI: dict[str, str] = {
    "blue_heart": "1f499",
    "heart": "2764-fe0f",
    "wink": "1f609",
    "smile": "1f604",
    "slightly_smiling_face": "1f642",
    "joy": "1f602",
    "pray": "1f64f",
    "fire": "1f525",
    "+1": "1f44d",
    "-1": "1f44e",
    "wave": "1f44b",
    "clap": "1f44f",
    "rocket": "1f680",
    "tada": "1f389",
    "eyes": "1f440",
    "thinking_face": "1f914",
    "sweat_smile": "1f605",
    "rolling_on_the_floor_laughing": "1f923",
    "man-woman-girl-boy": "1f468-200d-1f469-200d-1f467-200d-1f466",
    "flag-fr": "1f1eb-1f1f7",
    "white_check_mark": "2705",
    "zap": "26a1",
    "coffee": "2615",
    "muscle": "1f4aa",
    "sunglasses": "1f60e",
}
_BY_UNICODE = {
    "".join(chr(int(p, 16)) for p in code.split("-")): name for name, code in STANDARD_EMOJI.items()
}
_SKIN = {chr(0x1F3FB + i): i + 2 for i in range(5)}
_SHORTCODE_RE = re.compile(r":([a-z0-9_+\-']+)(?:::skin-tone-([2-6]))?:")
_CONTROL_RE = re.compile(r"<([^<>]*)>")


def _typed_to_shortcodes(text: str) -> str:
    """What a Slack client does to typed Unicode emoji: ``👍🏽`` → ``:+1::skin-tone-4:``."""
    out: list[str] = []
    i = 0
    longest = max(len(k) for k in _BY_UNICODE)
    while i < len(text):
        for size in range(min(longest, len(text) - i), 0, -1):
            name = _BY_UNICODE.get(text[i : i + size])
            if name is None and text[i + size - 1 : i + size] == "\ufe0f":
                name = _BY_UNICODE.get(text[i : i + size - 1])
            if name is not None:
                i += size
                tone = _SKIN.get(text[i : i + 1])
                if tone:
                    i += 1
                    out.append(f":{name}::skin-tone-{tone}:")
                else:
                    out.append(f":{name}:")
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _inline_elements(text: str, custom: frozenset[str]) -> list[JSON]:
    """Slack wire text (after shortcodes) → rich_text_section elements."""
    elements: list[JSON] = []

    def add_text(chunk: str) -> None:
        pos = 0
        for m in _SHORTCODE_RE.finditer(chunk):
            name, tone = m.group(1), m.group(2)
            if name not in STANDARD_EMOJI and name not in custom:
                continue
            if m.start() > pos:
                elements.append({"type": "text", "text": _unescape(chunk[pos : m.start()])})
            element: JSON = {"type": "emoji", "name": name}
            if name in STANDARD_EMOJI:
                code = STANDARD_EMOJI[name]
                if tone:
                    code = code.split("-")[0] + f"-{0x1F3F9 + int(tone):x}"
                    element["skin_tone"] = int(tone)
                element["unicode"] = code
            elements.append(element)
            pos = m.end()
        if pos < len(chunk):
            elements.append({"type": "text", "text": _unescape(chunk[pos:])})

    pos = 0
    for m in _CONTROL_RE.finditer(text):
        add_text(text[pos : m.start()])
        target, _, label = m.group(1).partition("|")
        if target.startswith("@"):
            elements.append({"type": "user", "user_id": target[1:]})
        elif target.startswith("#"):
            elements.append({"type": "channel", "channel_id": target[1:]})
        elif target.startswith("!subteam^"):
            elements.append({"type": "usergroup", "usergroup_id": target[len("!subteam^") :]})
        elif target.startswith("!"):
            elements.append({"type": "broadcast", "range": target[1:]})
        else:
            link: JSON = {"type": "link", "url": _unescape(target)}
            if label:
                link["text"] = _unescape(label)
            elements.append(link)
        pos = m.end()
    add_text(text[pos:])
    return elements


def human_message(text: str, custom_emoji: Iterable[str] = ()) -> tuple[str, JSON]:
    """A human's message as Slack delivers it: (``text`` with typed emoji as ``:shortcodes:``,
    the ``rich_text`` block with emoji elements carrying their Unicode, links, mentions).

    ``text`` is what the client sends (Slack's wire format: ``&``, ``<``, ``>`` escaped,
    ``<@U…>``/``<url|label>`` control sequences, ``:name:`` for emoji picked from the menu).
    """
    wire = _typed_to_shortcodes(text)
    return wire, {
        "type": "rich_text",
        "block_id": uuid.uuid4().hex[:5],
        "elements": [
            {
                "type": "rich_text_section",
                "elements": _inline_elements(wire, frozenset(custom_emoji)),
            }
        ],
    }
