"""The Bluesky and X emulators answer as the documented APIs do (raw HTTP, no app code)."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from assistant.emulators.bluesky import BlueskyEmulator
from assistant.emulators.x import XEmulator, weighted_length

HANDLE, PASSWORD = "brand.bsky.social", "abcd-efgh-ijkl-mnop"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def sky() -> AsyncIterator[BlueskyEmulator]:
    emulator = BlueskyEmulator(handle=HANDLE, app_password=PASSWORD)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def xx() -> AsyncIterator[XEmulator]:
    emulator = XEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


async def _xrpc(
    http: aiohttp.ClientSession,
    sky: BlueskyEmulator,
    nsid: str,
    token: str | None = None,
    **kw: Any,
) -> tuple[int, dict[str, Any], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    method = "POST" if "json" in kw or nsid.endswith(("Session", "createRecord")) else "GET"
    async with http.request(method, f"{sky.base_url}/xrpc/{nsid}", headers=headers, **kw) as r:
        return r.status, dict(r.headers), await r.json(content_type=None)


async def _login(http: aiohttp.ClientSession, sky: BlueskyEmulator) -> dict[str, Any]:
    status, _, body = await _xrpc(
        http,
        sky,
        "com.atproto.server.createSession",
        json={"identifier": HANDLE, "password": PASSWORD},
    )
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def test_bluesky_logins_are_rate_limited_with_headers(
    http: aiohttp.ClientSession, sky: BlueskyEmulator
) -> None:
    sky.login_limit = 2
    await _login(http, sky)
    await _login(http, sky)
    status, headers, body = await _xrpc(
        http,
        sky,
        "com.atproto.server.createSession",
        json={"identifier": HANDLE, "password": PASSWORD},
    )
    assert status == 429 and body["error"] == "RateLimitExceeded"
    assert int(headers["RateLimit-Reset"]) >= int(time.time()) and "RateLimit-Policy" in headers


async def test_bluesky_refresh_rotates_and_access_expires(
    http: aiohttp.ClientSession, sky: BlueskyEmulator
) -> None:
    session = await _login(http, sky)
    sky.expire_access_tokens()
    status, _, body = await _xrpc(
        http, sky, "app.bsky.notification.listNotifications", session["accessJwt"]
    )
    assert (status, body["error"]) == (400, "ExpiredToken")
    status, _, fresh = await _xrpc(
        http, sky, "com.atproto.server.refreshSession", session["refreshJwt"]
    )
    assert status == 200 and fresh["refreshJwt"] != session["refreshJwt"]
    status, _, body = await _xrpc(
        http, sky, "com.atproto.server.refreshSession", session["refreshJwt"]
    )
    assert (status, body["error"]) == (400, "ExpiredToken")  # the old one is spent


async def test_bluesky_create_record_rules(
    http: aiohttp.ClientSession, sky: BlueskyEmulator
) -> None:
    token = (await _login(http, sky))["accessJwt"]
    post = sky.add_mention("colere.bsky.social", "hello")

    def body(text: str, rkey: str = "3jzfcijpj2z2a") -> dict[str, Any]:
        return {
            "repo": sky.account.did,
            "collection": "app.bsky.feed.post",
            "rkey": rkey,
            "record": {
                "$type": "app.bsky.feed.post",
                "text": text,
                "createdAt": "2026-11-30T00:00:00Z",
                "reply": {
                    "root": {"uri": post.uri, "cid": post.cid},
                    "parent": {"uri": post.uri, "cid": post.cid},
                },
            },
        }

    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    status, _, answer = await _xrpc(
        http, sky, "com.atproto.repo.createRecord", token, json=body("x" * 301)
    )
    assert status == 400 and "300 graphemes" in answer["message"]
    status, _, _ = await _xrpc(
        http, sky, "com.atproto.repo.createRecord", token, json=body(family * 300)
    )
    assert status == 400  # 300 graphemes but over 3,000 bytes
    status, _, created = await _xrpc(
        http, sky, "com.atproto.repo.createRecord", token, json=body(family * 100)
    )
    assert status == 200 and created["uri"].endswith("/3jzfcijpj2z2a")
    status, _, answer = await _xrpc(
        http, sky, "com.atproto.repo.createRecord", token, json=body("again")
    )
    assert status == 500  # the same rkey: the reference server fails the write
    status, _, found = await _xrpc(
        http,
        sky,
        "com.atproto.repo.getRecord",
        params={
            "repo": sky.account.did,
            "collection": "app.bsky.feed.post",
            "rkey": "3jzfcijpj2z2a",
        },
    )
    assert status == 200 and found["uri"] == created["uri"]
    assert len(sky.created) == 1


async def _token(http: aiohttp.ClientSession, xx: XEmulator, refresh: str) -> tuple[int, Any]:
    basic = base64.b64encode(b"x-client-id:x-client-secret").decode()
    async with http.post(
        f"{xx.base_url}/2/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh},
        headers={"Authorization": f"Basic {basic}"},
    ) as resp:
        return resp.status, await resp.json()


async def test_x_refresh_tokens_are_single_use(http: aiohttp.ClientSession, xx: XEmulator) -> None:
    status, first = await _token(http, xx, "x-first-refresh-token")
    assert status == 200 and first["expires_in"] == 7200
    status, answer = await _token(http, xx, "x-first-refresh-token")
    assert status == 400 and answer["error"] == "invalid_request"
    status, second = await _token(http, xx, first["refresh_token"])
    assert status == 200 and second["refresh_token"] != first["refresh_token"]


async def test_x_posts_duplicates_length_and_mention_rule(
    http: aiohttp.ClientSession, xx: XEmulator
) -> None:
    _, token = await _token(http, xx, "x-first-refresh-token")
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    mention = xx.add_mention("colere", "bande de nuls")
    stranger = xx.add_post("passant", "rien à voir")

    async def post(text: str, to: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
        async with http.post(
            f"{xx.base_url}/2/tweets",
            json={"text": text, "reply": {"in_reply_to_tweet_id": to}},
            headers=auth,
        ) as resp:
            return resp.status, dict(resp.headers), await resp.json()

    assert weighted_length("我" * 141) == 282
    status, _, answer = await post("我" * 141, mention.id)
    assert status == 403 and "too long" in answer["detail"]
    status, headers, created = await post("Bonjour 😉", mention.id)
    assert status == 201 and created["data"]["text"] == "Bonjour 😉"
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= {
        k.lower() for k in headers
    }
    status, _, answer = await post("Bonjour 😉", mention.id)
    assert status == 403 and "duplicate content" in answer["detail"]
    status, _, answer = await post("Autre chose", stranger.id)
    assert status == 403 and "not been mentioned" in answer["detail"]
    assert len(xx.created) == 1
    xx.expire_access_tokens()
    status, _, answer = await post("Encore", mention.id)
    assert status == 401
