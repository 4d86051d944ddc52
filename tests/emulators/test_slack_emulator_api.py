"""The Slack emulator's Web API, driven over real HTTP by slack_sdk and raw aiohttp."""

from __future__ import annotations

import json
import time

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from assistant.emulators.slack import SlackEmulator, dm_channel

from .conftest import APP_TOKEN, BOT_TOKEN, make_slack


def client(emu: SlackEmulator, token: str = BOT_TOKEN) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=emu.api_url)


async def raw(
    emu: SlackEmulator,
    method: str,
    *,
    data: object = None,
    json_body: object = None,
    headers: dict[str, str] | None = None,
    get: dict[str, str] | None = None,
) -> tuple[int, dict[str, object], dict[str, str]]:
    async with aiohttp.ClientSession() as session:
        url = emu.api_url + method
        if get is not None:
            req = session.get(url, params=get, headers=headers)
        else:
            req = session.post(url, data=data, json=json_body, headers=headers)
        async with req as resp:
            return resp.status, await resp.json(), dict(resp.headers)


async def test_auth_errors_are_http_200_ok_false(slack: SlackEmulator) -> None:
    status, body, headers = await raw(slack, "auth.test")
    assert (status, body) == (200, {"ok": False, "error": "not_authed"})
    assert headers["Content-Type"].startswith("application/json")
    status, body, _ = await raw(slack, "auth.test", data={"token": "xoxb-wrong"})
    assert body == {"ok": False, "error": "invalid_auth"}
    _, body, _ = await raw(slack, "auth.test", headers={"Authorization": "Bearer xoxb-wrong"})
    assert body["error"] == "invalid_auth"
    # Slack ignores a token inside a JSON body: it must travel in the header.
    _, body, _ = await raw(slack, "auth.test", json_body={"token": BOT_TOKEN})
    assert body["error"] == "not_authed"
    _, body, _ = await raw(slack, "auth.test", data={"token": BOT_TOKEN})
    assert body["ok"] is True


async def test_auth_test_identity(slack: SlackEmulator) -> None:
    resp = await client(slack).auth_test()
    assert resp["user_id"] == "UBOT"
    assert resp["bot_id"] == "BBOT"
    assert resp["team_id"] == "T0001"
    assert resp["url"].startswith("https://")


async def test_unknown_method_is_404(slack: SlackEmulator) -> None:
    status, body, _ = await raw(slack, "chat.nonsense", data={"token": BOT_TOKEN})
    assert status == 404
    assert body["ok"] is False and body["error"] == "unknown_method"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_message_json_form_and_errors(slack: SlackEmulator) -> None:
    web = client(slack)
    resp = await web.chat_postMessage(
        channel="C1",
        text="fallback",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}],
    )
    assert resp["ok"] and resp["channel"] == "C1"
    ts = resp["ts"]
    msg = slack.message("C1", ts)
    assert msg.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    assert (msg.user, msg.bot_id, msg.text) == ("UBOT", "BBOT", "fallback")
    assert resp["message"]["bot_id"] == "BBOT"
    # Form-encoded, blocks as a JSON string, token as a parameter.
    _, body, _ = await raw(
        slack,
        "chat.postMessage",
        data={"token": BOT_TOKEN, "channel": "C1", "blocks": json.dumps([{"type": "divider"}])},
    )
    assert body["ok"] is True
    assert slack.message("C1", str(body["ts"])).blocks == [{"type": "divider"}]
    assert float(str(body["ts"])) > float(ts)
    for kwargs, error in [
        ({"channel": "CNOPE", "text": "x"}, "channel_not_found"),
        ({"channel": "C1"}, "no_text"),
        ({"channel": "C1", "blocks": "not json"}, "invalid_blocks_format"),
    ]:
        with pytest.raises(SlackApiError) as err:
            await web.chat_postMessage(**kwargs)
        assert err.value.response.status_code == 200
        assert err.value.response["error"] == error
    assert [c.error for c in slack.calls_to("chat.postMessage")][-3:] == [
        "channel_not_found",
        "no_text",
        "invalid_blocks_format",
    ]
    assert "token" not in slack.calls_to("chat.postMessage")[1].params


async def test_ts_format_unique_and_increasing(slack: SlackEmulator) -> None:
    web = client(slack)
    stamps = [(await web.chat_postMessage(channel="C1", text=str(i)))["ts"] for i in range(20)]
    assert len(set(stamps)) == 20
    assert stamps == sorted(stamps, key=float)
    for ts in stamps:
        seconds, micros = ts.split(".")
        assert len(seconds) == 10 and len(micros) == 6
        assert abs(int(seconds) - time.time()) < 60


async def test_threads_replies_and_permalink(slack: SlackEmulator) -> None:
    web = client(slack)
    parent = await slack.post_message("U1", "parent", channel="C1")
    r1 = await web.chat_postMessage(channel="C1", text="bot reply", thread_ts=parent)
    r2 = await slack.post_message("U2", "human reply", channel="C1", thread_ts=parent)
    # Replying to a reply's ts lands in the same thread, as in Slack.
    r3 = await web.chat_postMessage(channel="C1", text="nested", thread_ts=r2)
    assert slack.message("C1", r3["ts"]).thread_ts == parent
    thread = slack.thread("C1", parent)
    assert [m.ts for m in thread] == [parent, r1["ts"], r2, r3["ts"]]
    resp = await web.conversations_replies(channel="C1", ts=parent)
    messages = resp["messages"]
    assert [m["ts"] for m in messages] == [parent, r1["ts"], r2, r3["ts"]]
    assert messages[0]["reply_count"] == 3
    assert messages[1]["thread_ts"] == parent and messages[1]["parent_user_id"] == "U1"
    page = await web.conversations_replies(channel="C1", ts=parent, limit=2)
    assert page["has_more"] is True
    rest = await web.conversations_replies(
        channel="C1", ts=parent, limit=2, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in page["messages"] + rest["messages"]] == [m["ts"] for m in messages]
    link = await web.chat_getPermalink(channel="C1", message_ts=r1["ts"])
    assert link["permalink"].endswith(
        f"/archives/C1/p{r1['ts'].replace('.', '')}?thread_ts={parent}&cid=C1"
    )
    with pytest.raises(SlackApiError) as err:
        await web.conversations_replies(channel="C1", ts="1700000000.000001")
    assert err.value.response["error"] == "thread_not_found"
    with pytest.raises(SlackApiError) as err:
        await web.chat_getPermalink(channel="C1", message_ts="1700000000.000001")
    assert err.value.response["error"] == "message_not_found"


async def test_update_keeps_history_and_checks_ownership(slack: SlackEmulator) -> None:
    web = client(slack)
    ts = (await web.chat_postMessage(channel="C1", text="v1"))["ts"]
    resp = await web.chat_update(channel="C1", ts=ts, text="v2", blocks=[{"type": "divider"}])
    assert resp["ts"] == ts and resp["text"] == "v2"
    await web.chat_update(channel="C1", ts=ts, text="v3")
    msg = slack.message("C1", ts)
    assert msg.text == "v3"
    assert [v.text for v in msg.history] == ["v1", "v2"]
    assert msg.edited is not None and msg.edited["user"] == "UBOT"
    assert len(slack.calls_to("chat.update")) == 2
    human = await slack.post_message("U1", "mine", channel="C1")
    for kwargs, error in [
        ({"channel": "C1", "ts": human, "text": "x"}, "cant_update_message"),
        ({"channel": "C1", "ts": "1700000000.000001", "text": "x"}, "message_not_found"),
        ({"channel": "C9", "ts": ts, "text": "x"}, "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError) as err:
            await web.chat_update(**kwargs)
        assert err.value.response["error"] == error
    assert slack.message("C1", human).text == "mine"


async def test_reactions_ephemeral_users_and_groups(slack: SlackEmulator) -> None:
    web = client(slack)
    ts = await slack.post_message("U1", "hello", channel="C1")
    await web.reactions_add(channel="C1", timestamp=ts, name="eyes")
    assert slack.message("C1", ts).reactions == {"eyes": ["UBOT"]}
    for call, kwargs, error in [
        (web.reactions_add, {"name": "eyes"}, "already_reacted"),
        (web.reactions_remove, {"name": "tada"}, "no_reaction"),
        (web.reactions_add, {"name": "bad name"}, "invalid_name"),
    ]:
        with pytest.raises(SlackApiError) as err:
            await call(channel="C1", timestamp=ts, **kwargs)
        assert err.value.response["error"] == error
    with pytest.raises(SlackApiError) as err:
        await web.reactions_add(channel="C1", timestamp="1700000000.000001", name="eyes")
    assert err.value.response["error"] == "message_not_found"
    await web.reactions_remove(channel="C1", timestamp=ts, name="eyes")
    assert slack.message("C1", ts).reactions == {}

    eph = await web.chat_postEphemeral(channel="C1", user="U2", text="only you", thread_ts=ts)
    assert eph["message_ts"]
    assert [(e.user, e.text, e.thread_ts) for e in slack.ephemerals] == [("U2", "only you", ts)]
    with pytest.raises(SlackApiError) as err:
        await web.chat_postEphemeral(channel="C1", user="UNOBODY", text="x")
    assert err.value.response["error"] == "user_not_in_channel"

    alice = (await web.users_info(user="U1"))["user"]
    assert alice["id"] == "U1" and alice["is_bot"] is False and alice["deleted"] is False
    assert alice["profile"]["display_name"] == "alice" and alice["real_name"] == "Alice"
    bot = (await web.users_info(user="UBOT"))["user"]
    assert bot["is_bot"] is True and bot["profile"]["bot_id"] == "BBOT"
    other = (await web.users_info(user="UOTHERBOT"))["user"]
    assert other["is_bot"] is True and other["profile"]["bot_id"] == "B9"
    with pytest.raises(SlackApiError) as err:
        await web.users_info(user="UNOBODY")
    assert err.value.response["error"] == "user_not_found"
    assert slack.calls_to("users.info")[0].http_method == "GET"

    assert (await web.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        await web.usergroups_users_list(usergroup="SNOPE")
    assert err.value.response["error"] == "no_such_subteam"


async def test_rate_limit_answers_429_then_sdk_retry_handler_succeeds(
    slack: SlackEmulator,
) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    status, body, headers = await raw(
        slack, "chat.postMessage", data={"token": BOT_TOKEN, "channel": "C1", "text": "x"}
    )
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert body == {"ok": False, "error": "ratelimited"}
    assert not slack.bot_messages("C1")

    slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    plain = client(slack)
    with pytest.raises(SlackApiError) as err:
        await plain.chat_postMessage(channel="C1", text="x")
    assert err.value.response.status_code == 429

    slack.rate_limit("chat.postMessage", times=1, retry_after=1)
    retrying = client(slack)
    retrying.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    started = time.monotonic()
    resp = await retrying.chat_postMessage(channel="C1", text="after retry")
    assert resp["ok"] is True
    assert time.monotonic() - started >= 1.0
    assert [m.text for m in slack.bot_messages("C1")] == ["after retry"]
    statuses = [c.status for c in slack.calls_to("chat.postMessage")]
    assert statuses == [429, 429, 429, 200]


async def test_fail_injects_5xx_and_ok_false(slack: SlackEmulator) -> None:
    web = client(slack)
    slack.fail("chat.update", status=503, error="service_unavailable")
    slack.fail("*", times=1, status=200, error="fatal_error")
    with pytest.raises(SlackApiError) as err:
        await web.chat_update(channel="C1", ts="1.2", text="x")
    assert err.value.response.status_code == 503
    with pytest.raises(SlackApiError) as err:
        await web.auth_test()
    assert (err.value.response.status_code, err.value.response["error"]) == (200, "fatal_error")
    assert (await web.auth_test())["ok"] is True


async def test_socket_ticket_requires_app_token() -> None:
    emu = make_slack(app_token=APP_TOKEN)
    await emu.start()
    try:
        with pytest.raises(SlackApiError) as err:
            await client(emu).apps_connections_open(app_token=BOT_TOKEN)
        assert err.value.response["error"] == "not_allowed_token_type"
        with pytest.raises(SlackApiError) as err:
            await client(emu, APP_TOKEN).auth_test()
        assert err.value.response["error"] == "not_allowed_token_type"
        resp = await client(emu).apps_connections_open(app_token=APP_TOKEN)
        assert resp["url"].startswith(f"ws://127.0.0.1:{emu.api_url.split(':')[2].split('/')[0]}/")
    finally:
        await emu.stop()


async def test_partial_success_faults_post_the_message_but_lose_the_answer(
    slack: SlackEmulator,
) -> None:
    slack.fail_after_commit("chat.postMessage", status=500)
    with pytest.raises(SlackApiError) as err:
        await client(slack).chat_postMessage(channel="C1", text="un")
    assert err.value.response.status_code == 500
    assert [m.text for m in slack.bot_messages("C1")] == ["un"]  # posted all the same
    slack.drop_after_commit("chat.postMessage")
    no_retry = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[])
    with pytest.raises(aiohttp.ClientError):  # (the SDK's default handler would post again)
        await no_retry.chat_postMessage(channel="C1", text="deux")
    assert [m.text for m in slack.bot_messages("C1")] == ["un", "deux"]
    calls = slack.calls_to("chat.postMessage")
    assert [c.response.get("committed") for c in calls] == [True, True]


async def test_history_metadata_membership_and_direct_messages(slack: SlackEmulator) -> None:
    web = client(slack)
    meta = {"event_type": "case_card", "event_payload": {"case_id": "c1"}}
    await web.chat_postMessage(channel="C1", text="carte", metadata=meta)
    plain = await web.conversations_history(channel="C1")
    assert "metadata" not in plain["messages"][0]  # only on request, as Slack does
    full = await web.conversations_history(channel="C1", include_all_metadata=True)
    assert full["messages"][0]["metadata"] == meta
    slack.remove_bot("C1")
    with pytest.raises(SlackApiError) as err:
        await web.chat_postMessage(channel="C1", text="encore")
    assert err.value.response["error"] == "not_in_channel"
    dm = await web.chat_postMessage(channel="U1", text="psst")
    assert dm["channel"] == dm_channel("U1")
    assert [m.text for m in slack.direct_messages("U1")] == ["psst"]


async def test_views_publish_stores_the_home_tab_and_refuses_what_slack_refuses(
    slack: SlackEmulator,
) -> None:
    web = client(slack)
    view = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}],
    }
    answer = await web.views_publish(user_id="U1", view=view)
    assert answer["view"]["type"] == "home"
    assert slack.homes["U1"]["blocks"] == view["blocks"]
    for user, bad, error in (
        ("UNOBODY", view, "user_not_found"),
        ("U1", {"type": "modal", "blocks": []}, "invalid_arguments"),
        ("U1", {"type": "home", "blocks": [{"type": "divider"}] * 101}, "invalid_blocks"),
    ):
        with pytest.raises(SlackApiError) as err:
            await web.views_publish(user_id=user, view=bad)
        assert err.value.response["error"] == error
    assert slack.homes["U1"]["blocks"] == view["blocks"]  # refusals changed nothing
