"""The Slack emulator's Events API deliveries: envelopes, signatures, retries, echoes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from assistant.emulators.slack import SlackEmulator

from .conftest import BOT_TOKEN, SIGNING_SECRET, Receiver, make_slack

verifier = SignatureVerifier(SIGNING_SECRET)


def assert_signed(headers: dict[str, str], body: bytes) -> None:
    assert verifier.is_valid_request(body, headers), "signature does not verify"


async def test_human_message_envelope_is_signed_and_complete(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    ts = await slack.post_message("U1", "you &lt;b&gt; suck", channel="C1")
    assert ts.delivery.status == 200
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert_signed(got.headers, got.body)
    assert abs(int(got.headers["X-Slack-Request-Timestamp"]) - time.time()) < 5
    assert "X-Slack-Retry-Num" not in got.headers
    env = got.json
    assert env["type"] == "event_callback"
    assert env["team_id"] == "T0001" and env["api_app_id"] == slack.app_id
    assert env["event_id"].startswith("Ev") and env["event_id"] == ts.delivery.event_id
    assert isinstance(env["event_time"], int)
    assert env["authorizations"][0]["user_id"] == "UBOT"
    assert env["is_ext_shared_channel"] is False
    assert env["event_context"] and env["token"]
    event = env["event"]
    assert event["type"] == "message" and "subtype" not in event
    assert (event["user"], event["text"], event["ts"], event["channel"]) == (
        "U1",
        "you &lt;b&gt; suck",
        ts,
        "C1",
    )
    assert event["event_ts"] == ts and event["channel_type"] == "channel"
    assert "bot_id" not in event
    # Tampering with one byte breaks the signature.
    assert not verifier.is_valid_request(got.body.replace(b"suck", b"rock"), got.headers)


async def test_thread_reply_edit_delete_and_reaction_events(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    parent = await slack.post_message("U1", "parent", channel="C1")
    reply = await slack.post_message("U2", "proposal", channel="C1", thread_ts=parent)
    await slack.edit_message("C1", reply, "better proposal")
    await slack.add_reaction("U1", "C1", reply, "+1::skin-tone-3")
    await slack.remove_reaction("U1", "C1", reply, "+1::skin-tone-3")
    await slack.delete_message("C1", reply)
    events = receiver.events()
    assert [e["type"] for e in events] == [
        "message",
        "message",
        "message",
        "reaction_added",
        "reaction_removed",
        "message",
    ]
    assert events[1]["thread_ts"] == parent and events[1]["parent_user_id"] == "U1"
    changed = events[2]
    assert changed["subtype"] == "message_changed" and changed["hidden"] is True
    assert changed["message"]["text"] == "better proposal"
    assert changed["message"]["ts"] == reply and changed["message"]["thread_ts"] == parent
    assert changed["message"]["edited"] == {"user": "U2", "ts": changed["ts"]}
    assert changed["previous_message"]["text"] == "proposal"
    added = events[3]
    assert added["user"] == "U1" and added["reaction"] == "+1::skin-tone-3"
    assert added["item_user"] == "U2"
    assert added["item"] == {"type": "message", "channel": "C1", "ts": reply}
    assert added["event_ts"]
    deleted = events[5]
    assert deleted["subtype"] == "message_deleted" and deleted["deleted_ts"] == reply
    assert deleted["previous_message"]["text"] == "better proposal"
    msg = slack.message("C1", reply)
    assert msg.deleted and [v.text for v in msg.history] == ["proposal"]
    assert [m.ts for m in slack.thread("C1", parent)] == [parent]
    await slack.add_reaction("U1", "C1", parent, "eyes")
    with pytest.raises(ValueError):
        await slack.add_reaction("U1", "C1", parent, "eyes")


async def test_retries_with_headers_after_http_500(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    ts = await slack.post_message("U1", "hello", channel="C1")
    assert ts.delivery.status == 200
    assert [a.status for a in ts.delivery.attempts] == [500, 503, 200]
    assert len(receiver.received) == 3
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1, "a retry carries the same body"
    assert "X-Slack-Retry-Num" not in receiver.received[0].headers
    for num, got in enumerate(receiver.received[1:], start=1):
        assert got.headers["X-Slack-Retry-Num"] == str(num)
        assert got.headers["X-Slack-Retry-Reason"] == "http_error"
        assert_signed(got.headers, got.body)


async def test_gives_up_after_three_retries(slack: SlackEmulator, receiver: Receiver) -> None:
    receiver.statuses = [500] * 10
    ts = await slack.post_message("U1", "hello", channel="C1")
    assert len(receiver.received) == 4
    assert ts.delivery.status == 500 and not ts.delivery.ok
    assert [r.headers.get("X-Slack-Retry-Num") for r in receiver.received] == [None, "1", "2", "3"]


async def test_no_retry_header_is_honoured(slack: SlackEmulator, receiver: Receiver) -> None:
    receiver.statuses = [500]
    receiver.no_retry = True
    ts = await slack.post_message("U1", "hello", channel="C1")
    assert len(receiver.received) == 1 and ts.delivery.status == 500


async def test_timeout_retries_with_http_timeout_reason(receiver: Receiver) -> None:
    emu = make_slack(events_url=receiver.url, delivery_timeout=0.2)
    await emu.start()
    try:
        receiver.delays = [0.5]
        ts = await emu.post_message("U1", "slow", channel="C1")
        assert [a.status for a in ts.delivery.attempts] == [None, 200]
        assert ts.delivery.attempts[0].failure == "http_timeout"
        assert receiver.received[1].headers["X-Slack-Retry-Reason"] == "http_timeout"
        assert receiver.received[1].headers["X-Slack-Retry-Num"] == "1"
    finally:
        await emu.stop()


async def test_redeliver_sends_same_envelope_as_retry(
    slack: SlackEmulator, receiver: Receiver
) -> None:
    ts = await slack.post_message("U1", "hello", channel="C1")
    delivery = await slack.redeliver(ts.delivery.event_id)
    assert delivery is ts.delivery and len(delivery.attempts) == 2
    first, second = receiver.received
    assert first.body == second.body
    assert second.headers["X-Slack-Retry-Num"] == "1"
    assert second.json["event_id"] == first.json["event_id"]
    assert_signed(second.headers, second.body)


async def test_bot_echo_events(slack: SlackEmulator, receiver: Receiver) -> None:
    web = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    human = await slack.post_message("U1", "hi", channel="C1")
    posted = await web.chat_postMessage(channel="C1", text="card", thread_ts=human)
    await web.reactions_add(channel="C1", timestamp=posted["ts"], name="white_check_mark")
    await web.chat_update(channel="C1", ts=posted["ts"], text="card v2")
    await slack.drain()
    events = receiver.events()[1:]
    assert len(events) == 3
    echo = next(e for e in events if e["type"] == "message" and "subtype" not in e)
    assert echo["bot_id"] == "BBOT" and echo["user"] == "UBOT" and echo["app_id"] == slack.app_id
    assert echo["ts"] == posted["ts"] and echo["thread_ts"] == human
    reaction = next(e for e in events if e["type"] == "reaction_added")
    assert reaction["user"] == "UBOT" and reaction["item_user"] == "UBOT"
    changed = next(e for e in events if e.get("subtype") == "message_changed")
    assert changed["message"]["text"] == "card v2" and changed["message"]["bot_id"] == "BBOT"


async def test_no_echo_when_disabled(receiver: Receiver) -> None:
    emu = make_slack(events_url=receiver.url, echo_bot_events=False)
    await emu.start()
    try:
        web = AsyncWebClient(token=BOT_TOKEN, base_url=emu.api_url)
        await web.chat_postMessage(channel="C1", text="card")
        await emu.drain()
        assert receiver.received == []
    finally:
        await emu.stop()


async def test_events_url_settable_after_start(receiver: Receiver) -> None:
    emu = make_slack()
    await emu.start()
    try:
        early = await emu.post_message("U1", "nobody listens", channel="C1")
        assert early.delivery.attempts == [] and early.delivery.status is None
        emu.events_url = receiver.url
        late = await emu.post_message("U1", "now", channel="C1")
        assert late.delivery.status == 200 and len(receiver.received) == 1
    finally:
        await emu.stop()


@pytest.fixture
async def bolt(slack: SlackEmulator) -> AsyncIterator[tuple[AsyncApp, list[dict[str, Any]]]]:
    """A real Bolt app in HTTP mode, behind the emulator: it verifies signatures."""
    seen: list[dict[str, Any]] = []
    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
    )

    @app.event("message")
    async def on_message(event: dict[str, Any], say: Any) -> None:
        seen.append(event)
        if event.get("text") == "ping":
            await say(text="pong", thread_ts=event["ts"])

    @app.event("reaction_added")
    async def on_reaction(event: dict[str, Any]) -> None:
        seen.append(event)

    runner = web.AppRunner(app.web_app(path="/slack/events"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    slack.events_url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
    yield app, seen
    await runner.cleanup()


async def test_bolt_accepts_signed_events_and_ignores_own_echo(
    slack: SlackEmulator, bolt: tuple[AsyncApp, list[dict[str, Any]]]
) -> None:
    _, seen = bolt
    ts = await slack.post_message("U1", "ping", channel="C1")
    assert ts.delivery.status == 200
    for _ in range(100):
        if slack.bot_messages("C1"):
            break
        await asyncio.sleep(0.02)
    await slack.drain()
    [reply] = slack.bot_messages("C1")
    assert reply.text == "pong" and reply.thread_ts == ts
    # The echo of the bot's own reply was delivered (200) but Bolt dropped it as its own.
    echo = [d for d in slack.deliveries if d.event.get("bot_id") == "BBOT"]
    assert len(echo) == 1 and echo[0].status == 200
    assert [e["text"] for e in seen] == ["ping"]
    verify = await slack.verify_url()
    assert verify.status == 200 and json.loads(verify.body)["challenge"]


async def test_bolt_rejects_bad_and_stale_signatures(
    slack: SlackEmulator, bolt: tuple[AsyncApp, list[dict[str, Any]]]
) -> None:
    _, seen = bolt
    ts = await slack.post_message("U1", "first", channel="C1")
    body = ts.delivery.body
    good = await slack.deliver_raw(body, sign=True)
    assert good.status == 200
    bad = await slack.deliver_raw(
        body,
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=" + "0" * 64},
    )
    assert bad.status == 401
    stale = await slack.deliver_raw(body, sign=True, timestamp=int(time.time()) - 600)
    assert stale.status == 401
    unsigned = await slack.deliver_raw(body)
    assert unsigned.status == 401
    assert [e["text"] for e in seen] == ["first", "first"]


CARD_BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "case"}},
    {
        "type": "actions",
        "block_id": "case_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "ack",
                "text": {"type": "plain_text", "text": "Ack"},
                "value": "case-1",
            },
            {
                "type": "button",
                "action_id": "close",
                "text": {"type": "plain_text", "text": "Close"},
                "value": "case-1",
            },
        ],
    },
]


async def test_buttons_and_slash_commands_reach_bolt(
    slack: SlackEmulator, bolt: tuple[AsyncApp, list[dict[str, Any]]]
) -> None:
    app, _ = bolt
    clicked: list[dict[str, Any]] = []

    @app.action("ack")
    async def on_ack(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        clicked.append(body)
        await respond(text="acknowledged")

    @app.action("close")
    async def on_close(ack: Any, respond: Any) -> None:
        await ack()
        await respond(text="closed", replace_original=True)

    @app.command("/ops")
    async def on_ops(ack: Any, command: dict[str, Any]) -> None:
        await ack(text=f"status of {command['text']}: calm")

    web = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    card = (await web.chat_postMessage(channel="C1", text="case", blocks=CARD_BLOCKS))["ts"]
    delivery = await slack.click_button("U2", "C1", card, "ack")
    assert delivery.status == 200 and delivery.kind == "interactive"
    [body] = clicked
    assert body["type"] == "block_actions" and body["user"]["id"] == "U2"
    assert (
        body["actions"][0]["value"] == "case-1" and body["actions"][0]["block_id"] == "case_actions"
    )
    assert body["container"]["message_ts"] == card and body["channel"]["id"] == "C1"
    assert body["message"]["ts"] == card
    assert [(e.user, e.text) for e in slack.ephemerals] == [("U2", "acknowledged")]
    assert slack.responses[0].status == 200

    await slack.click_button("U1", "C1", card, "close")
    assert slack.message("C1", card).text == "closed"
    with pytest.raises(ValueError):
        await slack.click_button("U1", "C1", card, "missing")

    cmd = await slack.slash_command("U1", "/ops", "case-1", channel="C1")
    assert cmd.status == 200 and cmd.kind == "slash_commands"
    assert (slack.ephemerals[-1].user, slack.ephemerals[-1].text) == (
        "U1",
        "status of case-1: calm",
    )
    # Interactions are never retried: a failing app sees exactly one request.
    await slack.drain()
    assert all(len(d.attempts) == 1 for d in slack.interactions)


async def test_optional_per_channel_post_rate_limit() -> None:
    emu = make_slack(post_rate_limit=1.0, post_burst=2)
    await emu.start()
    try:
        web = AsyncWebClient(token=BOT_TOKEN, base_url=emu.api_url)
        await web.chat_postMessage(channel="C1", text="1")
        await web.chat_postMessage(channel="C1", text="2")
        with pytest.raises(SlackApiError) as err:
            await web.chat_postMessage(channel="C1", text="3")
        assert err.value.response.status_code == 429
        assert err.value.response.headers["Retry-After"] == "1"
        await web.chat_postMessage(channel="C2", text="other channel")
        await asyncio.sleep(1.0)
        await web.chat_postMessage(channel="C1", text="later")
        assert [m.text for m in emu.bot_messages("C1")] == ["1", "2", "later"]
    finally:
        await emu.stop()


async def test_rate_limits_as_slack_documents_them() -> None:
    """chat.postMessage: per channel, thread replies included, the refused message is not
    posted; chat.update: Tier 3 per workspace; every 429 is listed by rate_limited()."""
    emu = make_slack(post_rate_limit=1.0, post_burst=1, update_rate_per_minute=6)
    await emu.start()
    try:
        web = AsyncWebClient(token=BOT_TOKEN, base_url=emu.api_url)
        parent = (await web.chat_postMessage(channel="C1", text="parent"))["ts"]
        with pytest.raises(SlackApiError) as err:
            await web.chat_postMessage(channel="C1", text="reply", thread_ts=parent)
        assert err.value.response.data == {"ok": False, "error": "ratelimited"}
        assert [m.text for m in emu.bot_messages("C1")] == ["parent"]
        await web.chat_update(channel="C1", ts=parent, text="edit 1")  # burst of 1 (6/min)
        with pytest.raises(SlackApiError) as err:
            await web.chat_update(channel="C1", ts=parent, text="edit 2")
        assert err.value.response.status_code == 429
        assert int(err.value.response.headers["Retry-After"]) == 10  # 6 a minute
        assert emu.message("C1", parent).text == "edit 1"
        assert [c.method for c in emu.rate_limited()] == ["chat.postMessage", "chat.update"]
        assert len(emu.rate_limited("chat.update")) == 1
    finally:
        await emu.stop()
