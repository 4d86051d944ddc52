"""The Mastodon emulator over real HTTP (aiohttp): auth, notifications, statuses, faults."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from assistant.emulators.mastodon import MastodonEmulator, countable_length, grapheme_count

TOKEN = "mastodon-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def masto() -> AsyncIterator[MastodonEmulator]:
    m = MastodonEmulator(access_token=TOKEN, domain="social.example", account_username="brand")
    await m.start()
    yield m
    await m.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any, dict[str, str]]:
    async with http.request(
        method, url, headers=AUTH if headers is None else headers, **kwargs
    ) as r:
        return r.status, await r.json(), dict(r.headers)


def links(header: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


async def test_auth_is_required(masto: MastodonEmulator, http: aiohttp.ClientSession) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}):
        status, body, _ = await call(
            http, "GET", masto.base_url + "/api/v1/notifications", headers=headers
        )
        assert (status, body) == (401, {"error": "The access token is invalid"})
        status, body, _ = await call(
            http, "POST", masto.base_url + "/api/v1/statuses", headers=headers, data={"status": "x"}
        )
        assert status == 401
    assert masto.created_statuses == []
    assert [r.authorized for r in masto.requests] == [False] * 4


async def test_mention_notification_shape(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    note = masto.add_mention(
        "troll@bad.example",
        'you <suck> & "fail"',
        display_name="Troll",
        followers=1234,
        language="en",
    )
    local = masto.add_mention("neighbour", "hello")
    status, body, headers = await call(
        http, "GET", masto.base_url + "/api/v1/notifications", params={"types[]": "mention"}
    )
    assert status == 200
    assert [n["id"] for n in body] == [local["id"], note["id"]]
    first = body[1]
    assert first["type"] == "mention" and first == note
    account = first["account"]
    assert account["acct"] == "troll@bad.example" and account["username"] == "troll"
    assert account["display_name"] == "Troll" and account["followers_count"] == 1234
    assert account["url"] == "https://bad.example/@troll"
    st = first["status"]
    assert st["content"] == (
        '<p><span class="h-card"><a href="https://social.example/@brand" class="u-url mention">'
        "@<span>brand</span></a></span> you &lt;suck&gt; &amp; &quot;fail&quot;</p>"
    )
    assert st["language"] == "en" and st["visibility"] == "public"
    assert st["in_reply_to_id"] is None and st["account"]["id"] == account["id"]
    assert st["url"].startswith("https://bad.example/@troll/")
    assert st["mentions"] == [
        {
            "id": masto.account.id,
            "username": "brand",
            "url": "https://social.example/@brand",
            "acct": "brand",
        }
    ]
    datetime.fromisoformat(st["created_at"].replace("Z", "+00:00"))
    assert body[0]["account"]["acct"] == "neighbour"
    assert int(local["id"]) > int(note["id"])
    assert headers["X-RateLimit-Limit"] == "300"


async def test_notifications_pagination(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    ids = [masto.add_mention(f"user{i}@remote.example", f"m{i}")["id"] for i in range(7)]
    assert ids == sorted(ids, key=int)
    url = masto.base_url + "/api/v1/notifications"
    _, page1, headers = await call(http, "GET", url, params={"limit": "3", "types[]": "mention"})
    assert [n["id"] for n in page1] == ids[6:3:-1]
    rel = links(headers["Link"])
    assert "max_id=" + ids[4] in rel["next"] and "min_id=" + ids[6] in rel["prev"]
    assert "types%5B%5D=mention" in rel["next"] and "limit=3" in rel["next"]
    _, page2, headers = await call(http, "GET", rel["next"])
    assert [n["id"] for n in page2] == ids[3:0:-1]
    _, page3, headers = await call(http, "GET", links(headers["Link"])["next"])
    assert [n["id"] for n in page3] == [ids[0]]
    _, page4, headers = await call(http, "GET", links(headers["Link"])["next"])
    assert page4 == [] and "Link" not in headers

    # since_id: only newer, newest first; min_id: the ones right after, newest first.
    _, since, _ = await call(http, "GET", url, params={"since_id": ids[4]})
    assert [n["id"] for n in since] == [ids[6], ids[5]]
    _, after, _ = await call(http, "GET", url, params={"min_id": ids[1], "limit": "2"})
    assert [n["id"] for n in after] == [ids[3], ids[2]]
    _, none, _ = await call(http, "GET", url, params={"exclude_types[]": "mention"})
    assert none == []
    _, capped, _ = await call(http, "GET", url, params={"limit": "500"})
    assert len(capped) == 7
    for i in range(90):
        masto.add_mention(f"bulk{i}@remote.example", "x")
    _, default, _ = await call(http, "GET", url)
    _, big, _ = await call(http, "GET", url, params={"limit": "500"})
    assert (len(default), len(big)) == (40, 80)


async def test_post_status_form_and_json(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    note = masto.add_mention("troll@bad.example", "insult")
    target = note["status"]["id"]
    url = masto.base_url + "/api/v1/statuses"
    status, body, _ = await call(
        http,
        "POST",
        url,
        data={
            "status": "@troll@bad.example Sorry <3 & see https://example.com/x",
            "in_reply_to_id": target,
        },
    )
    assert status == 200
    assert body["in_reply_to_id"] == target
    assert body["in_reply_to_account_id"] == note["account"]["id"]
    assert body["url"] == f"https://social.example/@brand/{body['id']}"
    assert body["visibility"] == "public" and body["account"]["acct"] == "brand"
    assert body["content"].startswith(
        '<p><span class="h-card" translate="no"><a href="https://bad.example/@troll"'
    )
    assert "Sorry &lt;3 &amp; see" in body["content"]
    assert 'href="https://example.com/x"' in body["content"]
    assert body["mentions"][0]["acct"] == "troll@bad.example"
    status, body2, _ = await call(
        http,
        "POST",
        url,
        json={"status": "second\n\nparagraph", "visibility": "unlisted", "language": "fr"},
    )
    assert status == 200
    assert body2["content"] == "<p>second</p><p>paragraph</p>"
    assert (body2["visibility"], body2["language"]) == ("unlisted", "fr")
    assert int(body2["id"]) > int(body["id"])
    assert [s.id for s in masto.created_statuses] == [body["id"], body2["id"]]
    status, fetched, _ = await call(http, "GET", f"{url}/{body['id']}")
    assert status == 200
    assert {k: v for k, v in fetched.items() if k != "account"} == {
        k: v for k, v in body.items() if k != "account"
    }
    status, missing, _ = await call(http, "GET", f"{url}/123")
    assert (status, missing) == (404, {"error": "Record not found"})
    status, err, _ = await call(http, "POST", url, data={"status": "x", "in_reply_to_id": "42"})
    assert status == 404 and "error" in err
    assert len(masto.created_statuses) == 2


async def test_validation_and_character_counting(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    url = masto.base_url + "/api/v1/statuses"
    for text in ("", "   "):
        status, body, _ = await call(http, "POST", url, data={"status": text})
        assert (status, body) == (422, {"error": "Validation failed: Text can't be blank"})
    too_long = {"error": "Validation failed: Text character limit of 500 exceeded"}
    assert (await call(http, "POST", url, data={"status": "a" * 500}))[0] == 200
    assert (await call(http, "POST", url, data={"status": "a" * 501}))[1] == too_long
    # A URL counts 23 whatever its length; a remote mention counts as @user.
    long_url = "https://example.com/" + "p" * 200
    text = "a" * (500 - 23 - 1) + " " + long_url
    assert (await call(http, "POST", url, data={"status": text}))[0] == 200
    assert (await call(http, "POST", url, data={"status": "a" + text}))[1] == too_long
    mention = "@troll@a-very-long-remote-domain.example.org"
    text = mention + " " + "b" * (500 - len("@troll") - 1)
    assert (await call(http, "POST", url, data={"status": text}))[0] == 200
    # Grapheme clusters: a family emoji (7 code points) counts 1.
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    assert (await call(http, "POST", url, data={"status": family * 500}))[0] == 200
    assert (await call(http, "POST", url, data={"status": family * 501}))[1] == too_long
    # The content warning counts too.
    status, body, _ = await call(
        http, "POST", url, data={"status": "c" * 495, "spoiler_text": "spoil"}
    )
    assert status == 200 and body["sensitive"] is True
    assert (await call(http, "POST", url, data={"status": "c" * 496, "spoiler_text": "spoil"}))[
        1
    ] == too_long
    assert len(masto.created_statuses) == 5


def test_grapheme_and_length_rules() -> None:
    assert grapheme_count("") == 0
    assert grapheme_count("abc") == 3
    assert grapheme_count("e\u0301") == 1  # e + combining acute
    assert grapheme_count("\U0001f44d\U0001f3fd") == 1  # thumbs up + skin tone
    assert grapheme_count("\U0001f1eb\U0001f1f7\U0001f1e7") == 2  # FR flag + lone B
    assert grapheme_count("\r\n") == 1
    assert grapheme_count("\u2764\ufe0f") == 1  # heart + VS16
    assert grapheme_count("\u1100\u1161\u11a8") == 1  # Hangul L V T
    assert grapheme_count("\uac01\uac00") == 2
    assert countable_length("see http://x.io/very/long/path?q=1.") == 4 + 23 + 1
    assert countable_length("@bob@mastodon.social hi") == len("@bob hi")
    assert countable_length("mail me at bob@example.com") == len("mail me at bob@example.com")


async def test_idempotency_key_dedups(masto: MastodonEmulator, http: aiohttp.ClientSession) -> None:
    url = masto.base_url + "/api/v1/statuses"
    headers = {**AUTH, "Idempotency-Key": "case-1"}
    s1, first, _ = await call(http, "POST", url, headers=headers, data={"status": "reply"})
    s2, second, _ = await call(http, "POST", url, headers=headers, data={"status": "reply"})
    assert (s1, s2) == (200, 200) and first == second
    assert len(masto.created_statuses) == 1
    other = {**AUTH, "Idempotency-Key": "case-2"}
    _, third, _ = await call(http, "POST", url, headers=other, data={"status": "reply"})
    assert third["id"] != first["id"] and len(masto.created_statuses) == 2
    # After the key's hour, the same key creates again.
    masto.idempotency_ttl = 0.0
    await asyncio.sleep(0.01)
    _, fourth, _ = await call(http, "POST", url, headers=headers, data={"status": "reply"})
    assert fourth["id"] != first["id"] and len(masto.created_statuses) == 3


async def test_lost_response_needs_the_idempotency_key(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    url = masto.base_url + "/api/v1/statuses"
    headers = {**AUTH, "Idempotency-Key": "case-9"}
    masto.fail_after_commit()
    status, _, _ = await call(http, "POST", url, headers=headers, data={"status": "reply"})
    assert status == 502 and len(masto.created_statuses) == 1
    status, body, _ = await call(http, "POST", url, headers=headers, data={"status": "reply"})
    assert status == 200 and body["id"] == masto.created_statuses[0].id
    assert len(masto.created_statuses) == 1
    # Without a key, the same retry duplicates: what the key is there to prevent.
    masto.fail_after_commit()
    await call(http, "POST", url, data={"status": "dup"})
    await call(http, "POST", url, data={"status": "dup"})
    assert [s.text for s in masto.created_statuses].count("dup") == 2


async def test_rate_limit_and_failures(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    url = masto.base_url + "/api/v1/notifications"
    masto.rate_limit(times=2, reset_after=1.5)
    before = time.time()
    status, body, headers = await call(http, "GET", url)
    assert (status, body) == (429, {"error": "Too many requests"})
    assert headers["X-RateLimit-Remaining"] == "0" and headers["X-RateLimit-Limit"] == "300"
    assert headers["Retry-After"] == "2"
    reset = datetime.fromisoformat(headers["X-RateLimit-Reset"].replace("Z", "+00:00"))
    assert before + 1 <= reset.timestamp() <= time.time() + 2
    assert (await call(http, "GET", url))[0] == 429
    assert (await call(http, "GET", url))[0] == 200

    masto.fail(times=1, status=503, path="/api/v1/statuses")
    assert (await call(http, "GET", url))[0] == 200  # another path is not affected
    status, body, _ = await call(
        http, "POST", masto.base_url + "/api/v1/statuses", data={"status": "x"}
    )
    assert status == 503 and "error" in body
    assert masto.created_statuses == []
    assert [r.status for r in masto.requests_to("POST", "/api/v1/statuses")] == [503]


async def test_delay_client_timeout_then_retry_with_key(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    url = masto.base_url + "/api/v1/statuses"
    headers = {**AUTH, "Idempotency-Key": "slow-1"}
    masto.delay(0.4)
    with pytest.raises(asyncio.TimeoutError):
        await call(
            http,
            "POST",
            url,
            headers=headers,
            data={"status": "reply"},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    # The retry queues behind the slow first request, then gets its status: one status.
    status, body, _ = await call(http, "POST", url, headers=headers, data={"status": "reply"})
    assert status == 200
    assert [s.id for s in masto.created_statuses] == [body["id"]]


async def test_delay_applies_to_polling_too(
    masto: MastodonEmulator, http: aiohttp.ClientSession
) -> None:
    masto.add_mention("troll@bad.example", "x")
    masto.delay(0.3, path="/api/v1/notifications")
    url = masto.base_url + "/api/v1/notifications"
    with pytest.raises(asyncio.TimeoutError):
        await call(http, "GET", url, timeout=aiohttp.ClientTimeout(total=0.1))
    started = time.monotonic()
    status, body, _ = await call(http, "GET", url)
    assert status == 200 and len(body) == 1 and time.monotonic() - started < 0.25
    status, _, _ = await call(http, "GET", masto.base_url + "/api/v1/nothing-here")
    assert status == 404
