"""Bluesky and X end to end: the real app over HTTP, real Redis, the networks' emulators.

Each network: poll → card → proposals refused or accepted by that network's length rule →
quorum → exactly one reply. Also token expiry with two replicas (one refresh), rate limits
with a reset time, lost answers, malformed answers and permanent refusals.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

from assistant import reports
from assistant.models import Case, CaseStatus
from assistant.sandbox import ALICE, BOB, CAROL, CHANNEL, MAX, X_FIRST_REFRESH_TOKEN, Sandbox
from assistant.store import keys
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import card_message, propose, published, react, thread_texts
from tests.e2e.test_metrics import scrape, value

POLL = 0.05
HOSTILE = "vous êtes vraiment des connards, bande de nuls"
# 290 characters: within Bluesky's 300 graphemes, over X's 280 weighted characters.
FITS_BLUESKY_NOT_X = (
    "Merci pour votre message. " + "On regarde votre ligne. " * 10 + "Bonne journée, merci !!!"
)


def case_id(platform: str, network_id: str) -> str:
    return hashlib.sha256(f"{platform}:{network_id}".encode()).hexdigest()[:16]


async def polled_card(world: Sandbox, platform: str, network_id: str) -> Case:
    """The poller opened the case and its card was posted."""
    cid = case_id(platform, network_id)

    async def ready() -> Case | None:
        case = await world.app.store.get_case(cid)
        return case if case is not None and case.card_ts else None

    return await world.wait_for(ready, 10, f"the card of the {platform} mention")


async def refused(world: Sandbox, before: int) -> str:
    await world.wait_for(lambda: len(world.slack.ephemerals) > before, 5, "an ephemeral")
    return world.slack.ephemerals[before].text


async def approve(world: Sandbox, ts: str) -> None:
    await react(world, BOB, ts)
    await react(world, MAX, ts, "+1")


def test_the_length_example_is_on_the_boundary() -> None:
    from assistant.networks import bluesky, x

    assert len(FITS_BLUESKY_NOT_X) == 290
    assert bluesky.RULE.overflow("h", FITS_BLUESKY_NOT_X) == 0
    assert x.RULE.overflow("h", FITS_BLUESKY_NOT_X) == 10


# ---------------------------------------------------------------------- Bluesky


async def test_bluesky_poll_card_length_rule_quorum_one_reply(make_world: SandboxFactory) -> None:
    async with make_world(BLUESKY_POLL_SECONDS=POLL) as world:
        sky = world.bluesky
        old = sky.add_mention("old.bsky.social", "bande de connards", age=7200)  # before install
        sky.add_mention("fan.bsky.social", "merci pour le forfait !")  # not hostile
        parent = sky.add_mention("ami.bsky.social", "Qui a du réseau ?", reason="mention")
        post = sky.add_mention(
            "colere.bsky.social", HOSTILE, followers=4321, reason="reply", reply_to=parent.uri
        )
        case = await polled_card(world, "bluesky", post.uri)
        blocks = json.dumps(card_message(world, case).blocks, ensure_ascii=False)
        assert "Bluesky" in blocks and "colere.bsky.social" in blocks and "4,321" in blocks
        assert f"https://bsky.app/profile/colere.bsky.social/post/{post.rkey}" in blocks
        assert "300 characters on Bluesky" in blocks
        # the first poll of a fresh install skips the 2-hour-old mention
        await asyncio.sleep(5 * POLL)
        assert await world.app.store.get_case(case_id("bluesky", old.uri)) is None

        too_long = "x" * 301
        await propose(world, case, ALICE, too_long)
        text = await refused(world, 0)
        assert "1 character over" in text and "Bluesky" in text and "300" in text
        assert (await world.case(case.case_id)).proposals == 0

        fits = await propose(world, case, CAROL, FITS_BLUESKY_NOT_X)
        assert (await world.case(case.case_id)).proposals == 1
        reply = (
            "On vous aime quand même 💙👍🏽 @ami.bsky.social : "
            "https://status.example.com/panne #réseau"
        )
        ts = await propose(world, case, ALICE, reply)
        # Slack sent the emoji as shortcodes in the text field: the rich text is what is read
        assert ":blue_heart:" in world.slack.message(CHANNEL, ts).text
        sky.expire_access_tokens()  # mid-run: the publish renews the session once
        await approve(world, ts)
        case = await published(world, case)

        (created,) = sky.created
        assert created.text == reply
        assert created.rkey == case.publish_ref
        record = created.record
        root = {"uri": parent.uri, "cid": parent.cid}
        assert record["reply"] == {"root": root, "parent": {"uri": post.uri, "cid": post.cid}}
        raw = reply.encode()
        features = {
            f["features"][0]["$type"].rsplit("#", 1)[1]: raw[
                f["index"]["byteStart"] : f["index"]["byteEnd"]
            ].decode()
            for f in record["facets"]
        }
        assert features == {
            "mention": "@ami.bsky.social",
            "link": "https://status.example.com/panne",
            "tag": "#réseau",
        }
        assert case.published_url == (
            f"https://bsky.app/profile/brand.bsky.social/post/{created.rkey}"
        )
        assert (sky.logins, sky.refreshes) == (1, 1)  # one login, one refresh, for the run
        await react(world, MAX, fits)
        await react(world, BOB, fits)
        await world.slack.drain()
        assert len(sky.created) == 1 and len(sky.requests_to("com.atproto.repo.createRecord")) == 1


async def test_bluesky_post_with_a_bogus_created_at_still_opens_a_case(
    make_world: SandboxFactory,
) -> None:
    """createdAt is written by the author's client: one that is not a time does not lose the
    mention (the server's indexedAt stands in)."""
    async with make_world(BLUESKY_POLL_SECONDS=POLL) as world:
        post = world.bluesky.add_mention("colere.bsky.social", HOSTILE)
        post.record["createdAt"] = "hier soir"
        case = await polled_card(world, "bluesky", post.uri)
        assert abs(case.mention.created_at.timestamp() - post.indexed_at) < 1


async def test_bluesky_lost_answer_and_html_error_publish_once(world: Sandbox) -> None:
    sky = world.bluesky
    post = sky.add_mention("colere.bsky.social", HOSTILE)
    status, answer = await world.ingest(_webhook(post.uri, post.author.handle, HOSTILE))
    assert status == 202
    case = await world.card(str(answer["case"]))
    ts = await propose(world, case, ALICE, "Bonjour, écrivez-nous en DM.")
    sky.fail_html(path="app.bsky.feed.getPosts")  # a proxy's HTML page: transient
    sky.fail_after_commit()  # then the record is created but the answer is lost
    await approve(world, ts)
    case = await published(world, case, timeout=15)
    assert len(sky.created) == 1
    creates = sky.requests_to("com.atproto.repo.createRecord")
    assert [r.status for r in creates] == [502]  # the retry found it: no second create
    assert sky.requests_to("com.atproto.repo.getRecord")[-1].status == 200
    assert case.published_url and case.published_url.endswith(sky.created[0].rkey)


async def test_bluesky_rkey_conflict_is_taken_as_the_earlier_post(world: Sandbox) -> None:
    """A create whose answer timed out may land later; the retry's create then meets the
    reference server's 500 for an existing rkey and reads the record instead."""
    sky = world.bluesky
    post = sky.add_mention("colere.bsky.social", HOSTILE)
    _, answer = await world.ingest(_webhook(post.uri, post.author.handle, HOSTILE))
    case = await world.card(str(answer["case"]))
    ts = await propose(world, case, ALICE, "Réponse unique")
    sky.fail(path="com.atproto.repo.getRecord")  # the look before the retry fails once…
    sky.fail_after_commit()
    await approve(world, ts)
    await published(world, case, timeout=15)
    assert len(sky.created) == 1
    statuses = [r.status for r in sky.requests_to("com.atproto.repo.createRecord")]
    assert statuses[0] == 502 and all(s in (500, 502) for s in statuses)


async def test_bluesky_rate_limit_waits_for_the_reset(world: Sandbox) -> None:
    sky = world.bluesky
    post = sky.add_mention("colere.bsky.social", HOSTILE)
    _, answer = await world.ingest(_webhook(post.uri, post.author.handle, HOSTILE))
    case = await world.card(str(answer["case"]))
    ts = await propose(world, case, ALICE, "Patience")
    sky.rate_limit(reset_after=1.5, path="com.atproto.repo.createRecord")
    await approve(world, ts)
    await published(world, case, timeout=15)
    first, second = sky.requests_to("com.atproto.repo.createRecord")
    assert first.status == 429 and second.status == 200
    assert second.time - first.time >= 0.9  # waited for RateLimit-Reset, not the 0.5 s backoff


async def test_bluesky_expiry_with_two_replicas_refreshes_once(make_world: SandboxFactory) -> None:
    async with make_world() as world:
        replica = await world.add_replica()
        clients = [world.app.networks["bluesky"], replica.networks["bluesky"]]
        await clients[0].mentions_since(None)
        assert (world.bluesky.logins, world.bluesky.refreshes) == (1, 0)
        await clients[1].mentions_since(None)  # the session in Redis: no second login
        assert world.bluesky.logins == 1
        for _ in range(2):
            world.bluesky.expire_access_tokens()
            await asyncio.gather(*(c.mentions_since(None) for c in clients * 3))
        assert (world.bluesky.logins, world.bluesky.refreshes) == (1, 2)
        spent = [r for r in world.bluesky.requests if r.nsid.endswith("refreshSession")]
        assert all(r.status == 200 for r in spent)  # never a rotated-out refresh token


async def test_bluesky_refused_refresh_logs_in_once_across_replicas(
    make_world: SandboxFactory,
) -> None:
    """The refresh token itself is no longer valid (90 days, a changed app password): one
    replica's refreshSession is refused, it logs in once; the others use that session."""
    async with make_world() as world:
        sky = world.bluesky
        replica = await world.add_replica()
        clients = [world.app.networks["bluesky"], replica.networks["bluesky"]]
        await clients[0].mentions_since(None)
        sky.revoke_sessions()
        await asyncio.gather(*(c.mentions_since(None) for c in clients * 3))
        assert (sky.logins, sky.refreshes) == (2, 0)
        refused = sky.requests_to("com.atproto.server.refreshSession")
        assert [r.status for r in refused] == [400]  # asked once, then one login
        assert all(r.status == 200 for r in sky.requests_to("com.atproto.server.createSession"))


# ---------------------------------------------------------------------- X


async def test_x_poll_card_length_rule_quorum_one_reply(make_world: SandboxFactory) -> None:
    async with make_world(X_POLL_SECONDS=POLL) as world:
        xx = world.x
        old = xx.add_mention("ancien", "bande de connards", age=7200)
        post = xx.add_mention("colere", HOSTILE, followers=98765)
        case = await polled_card(world, "x", post.id)
        blocks = json.dumps(card_message(world, case).blocks, ensure_ascii=False)
        assert "on X" in blocks and "98,765" in blocks
        assert f"https://x.com/colere/status/{post.id}" in blocks
        assert "280 characters on X" in blocks

        await propose(world, case, ALICE, FITS_BLUESKY_NOT_X)
        text = await refused(world, 0)
        assert "10 characters over" in text and "X's 280" in text
        cjk = "谢谢" * 70 + "!"  # 140 CJK characters count 280: one more is over
        await propose(world, case, BOB, cjk)
        assert "1 character over" in await refused(world, 1)
        assert (await world.case(case.case_id)).proposals == 0

        reply = "Trois jours sans réseau, on comprend 😉 Écrivez-nous en DM : https://x.com/brand"
        ts = await propose(world, case, ALICE, reply)
        xx.expire_access_tokens()  # mid-run: one refresh
        await approve(world, ts)
        case = await published(world, case)
        (created,) = xx.created
        posts = xx.requests_to("POST", "/2/tweets")
        assert [r.status for r in posts][-1] == 201 and all(r.status in (401, 201) for r in posts)
        assert posts[-1].body == {"text": reply, "reply": {"in_reply_to_tweet_id": post.id}}
        assert created.in_reply_to == post.id
        assert case.published_url == f"https://x.com/brand/status/{created.id}"
        assert xx.refreshes == 2  # the first token, then one refresh after the expiry
        await world.wait_for(
            lambda: any("Published on X" in t for t in thread_texts(world, case)), 5, "note"
        )
        # the old mention was skipped on the first poll; later polls read only new posts
        assert await world.app.store.get_case(case_id("x", old.id)) is None
        reads = await world.app.store.redis.keys("coa:reads:x:*")
        spent = int(await world.app.store.redis.get(reads[0]) or 0)
        assert spent >= 2
        metrics = await scrape(world)  # the reads spent are visible in the metrics too
        assert value(metrics, "coa_network_posts_read", platform="x") == spent
        assert value(metrics, "coa_network_posts_read", platform="bluesky") == 0


async def test_x_mention_without_its_author_still_opens_a_case(
    make_world: SandboxFactory,
) -> None:
    """X leaves a suspended or protected author out of the answer's expansion (with a partial
    error): the mention is not lost; its card links to the post without a handle."""
    async with make_world(X_POLL_SECONDS=POLL) as world:
        xx = world.x
        post = xx.add_mention("cache", HOSTILE)
        xx.withheld_users.add(post.author.id)
        case = await polled_card(world, "x", post.id)
        assert str(case.mention.url) == f"https://x.com/i/web/status/{post.id}"
        assert case.mention.author.id == post.author.id


async def test_x_mention_text_is_unescaped_and_whole(make_world: SandboxFactory) -> None:
    """X sends &, < and > as HTML entities and a long post's first 280 characters in
    ``text`` (the whole in ``note_tweet``): the case has the text its author wrote."""
    async with make_world(X_POLL_SECONDS=POLL) as world:
        text = (
            "Vous êtes des <nuls> & des escrocs, R&amp;D zéro. " + "Trois jours sans réseau. " * 12
        )
        post = world.x.add_mention("colere", text)
        case = await polled_card(world, "x", post.id)
        assert case.mention.text == post.text and len(post.text) > 280
        longest = world.x.add_mention("colere", (HOSTILE + " ") * 530)  # 24,910 characters
        case = await polled_card(world, "x", longest.id)  # kept, cut to what a case holds
        assert len(case.mention.text) == 20_000 and case.mention.text.endswith("…")


async def test_x_lost_answer_is_found_in_the_timeline(world: Sandbox) -> None:
    xx = world.x
    post = xx.add_mention("colere", HOSTILE)
    _, answer = await world.ingest(_x_webhook(post.id, HOSTILE))
    case = await world.card(str(answer["case"]))
    ts = await propose(world, case, ALICE, "Une seule réponse")
    xx.fail_after_commit()
    await approve(world, ts)
    case = await published(world, case, timeout=15)
    (created,) = xx.created
    assert [r.status for r in xx.requests_to("POST", "/2/tweets")] == [503]
    assert xx.requests_to("GET", f"/2/users/{xx.me.id}/tweets")
    assert case.published_url == f"https://x.com/brand/status/{created.id}"


async def test_malformed_answers_are_retried_not_crashes(make_world: SandboxFactory) -> None:
    """A 200 whose body is not JSON: the poll is tried again, the publish retried (the look
    before the retry finds nothing, so it posts once)."""
    async with make_world(X_POLL_SECONDS=POLL, BLUESKY_POLL_SECONDS=POLL) as world:
        xx, sky = world.x, world.bluesky
        xx.malformed(times=2, path=f"/2/users/{xx.me.id}/mentions")
        sky.malformed(times=2, path="app.bsky.notification.listNotifications")
        tweet = xx.add_mention("colere", HOSTILE)
        post = sky.add_mention("colere.bsky.social", HOSTILE)
        x_case = await polled_card(world, "x", tweet.id)
        sky_case = await polled_card(world, "bluesky", post.uri)
        xx.malformed(path="/2/tweets")
        sky.malformed(path="com.atproto.repo.createRecord")
        for case in (x_case, sky_case):
            ts = await propose(world, case, ALICE, "Réponse")
            await approve(world, ts)
        await published(world, x_case, timeout=15)
        await published(world, sky_case, timeout=15)
        assert len(xx.created) == 1 and len(sky.created) == 1
        assert [r.status for r in xx.requests_to("POST", "/2/tweets")] == [200, 201]


async def test_x_rate_limit_waits_for_the_reset(world: Sandbox) -> None:
    xx = world.x
    post = xx.add_mention("colere", HOSTILE)
    _, answer = await world.ingest(_x_webhook(post.id, HOSTILE))
    case = await world.card(str(answer["case"]))
    ts = await propose(world, case, ALICE, "Patience")
    xx.rate_limit(reset_after=1.5, path="/2/tweets")
    await approve(world, ts)
    await published(world, case, timeout=15)
    first, second = xx.requests_to("POST", "/2/tweets")
    assert first.status == 429 and second.status == 201
    assert second.time - first.time >= 0.9


async def test_x_daily_post_cap_waits_for_its_own_reset(world: Sandbox) -> None:
    """A 429 because the 24-hour post cap is spent (x-user-limit-24hour-remaining: 0) while
    the 15-minute window has room: the retry waits for the 24-hour reset, not the window's
    (up to 15 minutes away) nor the 0.5 s backoff."""
    xx = world.x
    post = xx.add_mention("colere", HOSTILE)
    _, answer = await world.ingest(_x_webhook(post.id, HOSTILE))
    case = await world.card(str(answer["case"]))
    ts = await propose(world, case, ALICE, "Demain")
    xx.daily_cap(reset_after=1.5)
    await approve(world, ts)
    await published(world, case, timeout=15)
    first, second = xx.requests_to("POST", "/2/tweets")
    assert first.status == 429 and second.status == 201
    assert 0.9 <= second.time - first.time < 10


async def test_x_refusal_fails_the_case_and_pings_oncall(world: Sandbox) -> None:
    """A post that does not mention the brand (found by a monitoring tool): X refuses the
    reply for self-serve apps; the case fails with the reason and on-call is pinged."""
    xx = world.x
    post = xx.add_post("colere", HOSTILE)
    _, answer = await world.ingest(_x_webhook(post.id, HOSTILE))
    case = await world.card(str(answer["case"]))
    ts = await propose(world, case, ALICE, "Réponse")
    await approve(world, ts)

    async def failed() -> Case | None:
        current = await world.case(case.case_id)
        return current if current.status == CaseStatus.FAILED else None

    case = await world.wait_for(failed, 10, "the case failed")
    assert case.failure and "mention" in case.failure and "403" in case.failure
    await world.wait_for(lambda: thread_texts(world, case), 5, "the failure note")
    (note,) = thread_texts(world, case)
    assert "<!subteam^SONCALL>" in note and "only to posts that mention" in note
    assert xx.created == []
    assert len(xx.requests_to("POST", "/2/tweets")) == 1  # permanent: not retried
    trail = [e.action for e in await reports.case_trail(world.app.store, case.case_id, time.time())]
    assert trail[trail.index("publish_failed") :] == ["publish_failed", "paged", "page_sent"]


async def test_x_expiry_with_two_replicas_refreshes_once_and_redis_wins(
    make_world: SandboxFactory,
) -> None:
    async with make_world() as world:
        replica = await world.add_replica()
        clients = [world.app.networks["x"], replica.networks["x"]]
        await asyncio.gather(*(c.mentions_since(None) for c in clients * 3))
        assert world.x.refreshes == 1  # the first token: one refresh of X_REFRESH_TOKEN
        world.x.expire_access_tokens()
        await asyncio.gather(*(c.mentions_since(None) for c in clients * 3))
        assert world.x.refreshes == 2
        token_calls = world.x.requests_to("POST", "/2/oauth2/token")
        assert [r.status for r in token_calls] == [200, 200]  # never a burnt token
        # a restart: X_REFRESH_TOKEN is burnt, the token in Redis wins
        third = await world.add_replica()
        await third.networks["x"].mentions_since(None)
        assert world.x.refreshes == 2
        assert all(r.status == 200 for r in world.x.requests_to("POST", "/2/oauth2/token"))
        redis = world.app.store.redis
        (token_key,) = await redis.keys("coa:token:x:*")
        assert await redis.ttl(token_key) > 0  # kept with a retention, like every key
        assert X_FIRST_REFRESH_TOKEN not in await redis.get(token_key)  # the burnt one


async def test_x_with_oauth1_signatures(make_world: SandboxFactory) -> None:
    async with make_world(
        X_CLIENT_ID=None,
        X_CLIENT_SECRET=None,
        X_REFRESH_TOKEN=None,
        X_CONSUMER_KEY="x-consumer-key",
        X_CONSUMER_SECRET="x-consumer-secret",
        X_ACCESS_TOKEN="x-access-token",
        X_ACCESS_TOKEN_SECRET="x-access-token-secret",
        X_POLL_SECONDS=POLL,
    ) as world:
        post = world.x.add_mention("colere", HOSTILE)
        case = await polled_card(world, "x", post.id)
        ts = await propose(world, case, ALICE, "Signé OAuth 1.0a")
        await approve(world, ts)
        await published(world, case)
        assert len(world.x.created) == 1 and world.x.refreshes == 0
        assert all(r.status != 401 for r in world.x.requests)


async def test_x_wrong_oauth1_secret_is_a_clear_failure(make_world: SandboxFactory) -> None:
    async with make_world(
        X_CLIENT_ID=None,
        X_CLIENT_SECRET=None,
        X_REFRESH_TOKEN=None,
        X_CONSUMER_KEY="x-consumer-key",
        X_CONSUMER_SECRET="wrong",
        X_ACCESS_TOKEN="x-access-token",
        X_ACCESS_TOKEN_SECRET="x-access-token-secret",
    ) as world:
        from assistant.errors import PublishError

        try:
            await world.app.networks["x"].mentions_since(None)
        except PublishError as exc:
            assert not exc.transient and "X_*" in str(exc)
        else:
            raise AssertionError("a bad signature was accepted")


# ---------------------------------------------------------------------- helpers


def _webhook(uri: str, handle: str, text: str) -> dict[str, object]:
    rkey = uri.rsplit("/", 1)[-1]
    return {
        "platform": "bluesky",
        "id": uri,
        "url": f"https://bsky.app/profile/{handle}/post/{rkey}",
        "text": text,
        "author": {"id": "did:plc:colere", "handle": handle, "followers": 10},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _x_webhook(post_id: str, text: str) -> dict[str, object]:
    return {
        "platform": "x",
        "id": post_id,
        "url": f"https://x.com/colere/status/{post_id}",
        "text": text,
        "author": {"id": "42", "handle": "colere", "followers": 10},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


async def test_custom_emoji_refuse_a_proposal(world: Sandbox) -> None:
    from tests.e2e.helpers import open_case

    case = await open_case(world)
    await propose(world, case, ALICE, "Bravo :partyparrot: 🔥")
    text = await refused(world, 0)
    assert "custom emoji" in text and ":partyparrot:" in text
    assert (await world.case(case.case_id)).proposals == 0
    ts = await propose(world, case, BOB, "Bravo 🔥👍🏽")  # standard emoji, skin tone kept
    assert world.slack.message(CHANNEL, ts).text == "Bravo :fire::+1::skin-tone-4:"
    await react(world, CAROL, ts)
    await react(world, MAX, ts)
    await published(world, case)
    (status,) = world.mastodon.created_statuses
    assert status.text == "@colere@mastodon.social Bravo 🔥👍🏽"


async def test_one_replica_polls_each_account(make_world: SandboxFactory) -> None:
    async with make_world(BLUESKY_POLL_SECONDS=POLL, X_POLL_SECONDS=POLL) as world:
        replica = await world.add_replica(BLUESKY_POLL_SECONDS=POLL, X_POLL_SECONDS=POLL)
        post = world.bluesky.add_mention("colere.bsky.social", HOSTILE)
        tweet = world.x.add_mention("colere", HOSTILE)
        await polled_card(world, "bluesky", post.uri)
        await polled_card(world, "x", tweet.id)
        await asyncio.sleep(10 * POLL)  # many more polls on both replicas
        assert len([m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]) == 2
        redis = world.app.store.redis
        for platform in ("bluesky", "x"):
            pollers = [app.pollers[platform] for app in (world.app, replica)]
            holder = await redis.get(keys.lease(f"poller:{platform}"))
            assert holder in {p.owner for p in pollers}
            (other,) = [p for p in pollers if p.owner != holder]
            assert await other.poll_once() == 0  # no lease: no request to the network
        assert world.bluesky.logins == 1 and world.x.refreshes == 1


async def test_a_rate_limited_poll_waits_for_the_reset(make_world: SandboxFactory) -> None:
    """A 429 on the mentions read: the next poll waits for the reset time the network gave
    (x-rate-limit-reset, RateLimit-Reset), not the poll interval; then the mention comes in."""
    async with make_world(X_POLL_SECONDS=POLL, BLUESKY_POLL_SECONDS=POLL) as world:
        xx, sky = world.x, world.bluesky
        xx.rate_limit(reset_after=1.5, path=f"/2/users/{xx.me.id}/mentions")
        sky.rate_limit(reset_after=1.5, path="app.bsky.notification.listNotifications")
        tweet = xx.add_mention("colere", HOSTILE)
        post = sky.add_mention("colere.bsky.social", HOSTILE)
        await polled_card(world, "x", tweet.id)
        await polled_card(world, "bluesky", post.uri)
        for reads in (
            xx.requests_to("GET", f"/2/users/{xx.me.id}/mentions"),
            sky.requests_to("app.bsky.notification.listNotifications"),
        ):
            first = next(i for i, r in enumerate(reads) if r.status == 429)
            limited, after = reads[first], reads[first + 1]
            assert after.status == 200
            assert after.time - limited.time >= 0.9  # not the 0.05 s poll interval


async def test_a_rate_limited_poller_keeps_its_lease_through_the_wait(
    make_world: SandboxFactory,
) -> None:
    """The replica that met the 429 holds the poll lease until the reset (and a lease more),
    so another replica does not take the lease over and ask again during the window."""
    async with make_world(X_POLL_SECONDS=POLL) as world:
        replica = await world.add_replica(X_POLL_SECONDS=POLL)
        xx = world.x
        xx.rate_limit(reset_after=60, path=f"/2/users/{xx.me.id}/mentions")
        path = f"/2/users/{xx.me.id}/mentions"
        await world.wait_for(
            lambda: any(r.status == 429 for r in xx.requests_to("GET", path)), 5, "the 429"
        )
        lease = keys.lease("poller:x")

        async def extended() -> bool:
            return await world.app.store.redis.pttl(lease) > 30_000  # the plain lease: 10.15 s

        await world.wait_for(extended, 5, "the lease to cover the wait")
        holder = await world.app.store.redis.get(lease)
        (other,) = [p for p in (world.app.pollers["x"], replica.pollers["x"]) if p.owner != holder]
        before = len(xx.requests_to("GET", path))
        assert await other.poll_once() == 0
        assert len(xx.requests_to("GET", path)) == before


async def test_mastodon_first_poll_skips_mentions_over_an_hour_old(
    make_world: SandboxFactory,
) -> None:
    """Item 4 holds for Mastodon too (the poller is generic): a fresh install opens cases only
    for mentions of its first poll under an hour old; later polls start past the old ones."""
    async with make_world(MASTODON_POLL_SECONDS=POLL) as world:
        mastodon = world.mastodon
        old = mastodon.add_mention("ancien@mastodon.social", "bande de connards")
        mastodon.status(old["status"]["id"]).created_at -= 7200  # posted before the install
        recent = mastodon.add_mention("colere@mastodon.social", HOSTILE)
        await polled_card(world, "mastodon", recent["status"]["id"])
        await asyncio.sleep(5 * POLL)  # more polls: the cursor is past the old mention
        assert await world.app.store.get_case(case_id("mastodon", old["status"]["id"])) is None
        assert len([m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]) == 1


async def test_a_poll_hung_on_the_network_does_not_hold_the_drain(
    make_world: SandboxFactory,
) -> None:
    """SIGTERM's drain cuts short a poll still waiting for the network after the pollers'
    share of it (assistant.app.POLLERS_STOP_SECONDS; here 0.5 s), so the whole drain stays
    within DRAIN_SECONDS, below the container's and the pod's grace periods. The mention that
    poll would have read is read from the cursor by the next run."""
    notifications = "/api/v1/notifications"
    async with make_world(MASTODON_POLL_SECONDS=POLL) as world:
        before = len(world.mastodon.requests_to("GET", notifications))
        world.mastodon.delay(5, path=notifications)
        await world.wait_for(
            lambda: len(world.mastodon.requests_to("GET", notifications)) > before, 5, "a poll"
        )
        world.app.pollers_stop_seconds = 0.5
        started = time.monotonic()
        await world.app.stop()
        assert time.monotonic() - started < 3
