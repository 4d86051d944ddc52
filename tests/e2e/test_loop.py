"""The whole loop on real parts: the app over real HTTP, real Redis, the emulators."""

from __future__ import annotations

import asyncio
import json

import pytest

from assistant.models import CaseStatus
from assistant.networks.mastodon import idempotency_key
from assistant.sandbox import (
    ALICE,
    BOB,
    CAROL,
    CHANNEL,
    DAVE,
    MANON,
    MAX,
    OTHER_BOT,
    Sandbox,
)
from tests.conftest import BACKENDS, all_keys
from tests.e2e.conftest import SandboxFactory
from tests.e2e.helpers import (
    card_message,
    open_case,
    propose,
    published,
    react,
    thread_texts,
    unreact,
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Every test here runs on one Redis and on a 3-master Redis Cluster."""
    return str(request.param)


async def test_hostile_mention_to_published_reply(world: Sandbox) -> None:
    case = await open_case(world)
    card = card_message(world, case)
    blocks_json = json.dumps(card.blocks)
    assert "connards" in blocks_json and "colere@mastodon.social" in blocks_json
    assert "1,200" in blocks_json or "1200" in blocks_json  # follower count
    assert "insult: « connards »" in json.dumps(card.blocks, ensure_ascii=False)  # evidence

    first = await propose(world, case, ALICE, "Merci pour ce retour, on transmet à l'équipe 🙂")
    second = await propose(world, case, BOB, "Bonjour ! Dites-nous en DM ce qui coince.")
    # each accepted proposal is acknowledged with a reaction by the bot
    await world.wait_for(
        lambda: all(
            world.slack.message(CHANNEL, ts).reactions.get("memo") for ts in (first, second)
        ),
        5,
        "acknowledgement reactions",
    )
    await react(world, CAROL, second)
    await react(world, CAROL, first)
    assert world.mastodon.created_statuses == []  # one approval, no manager yet
    await react(world, MAX, second, "+1")

    case = await published(world, case)
    (status,) = world.mastodon.created_statuses
    (request,) = world.mastodon.requests_to("POST", "/api/v1/statuses")
    assert (
        request.params["status"]
        == "@colere@mastodon.social Bonjour ! Dites-nous en DM ce qui coince."
    )
    assert request.params["in_reply_to_id"] == case.mention.id
    assert request.idempotency_key == idempotency_key(case.case_id)
    assert case.published_url == status.url

    # the thread gets the public URL and the card is updated with the link
    await world.wait_for(
        lambda: any(status.url in t for t in thread_texts(world, case)), 5, "thread note"
    )
    await world.wait_for(
        lambda: status.url in json.dumps(card_message(world, case).blocks), 5, "card update"
    )
    # late votes on the other proposal change nothing
    await react(world, MAX, first)
    await react(world, MANON, first)
    await world.slack.drain()
    assert len(world.mastodon.created_statuses) == 1
    assert (await world.case(case.case_id)).winner_ts == second


async def test_votes_that_never_count(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, MAX, "Nous sommes désolés pour la gêne.")
    await react(world, MAX, ts)  # the proposer's own approval
    await react(world, OTHER_BOT, ts)  # another app's bot
    own_bot = await world.slack.send_event(  # our own bot's reaction, as Slack echoes it
        {
            "type": "reaction_added",
            "user": world.slack.bot_user_id,
            "reaction": "white_check_mark",
            "item_user": MAX,
            "item": {"type": "message", "channel": CHANNEL, "ts": ts},
            "event_ts": world.slack.new_ts(),
        }
    )
    assert own_bot.ok
    # a manager's approval: with any of the above counted, this would reach the quorum
    await react(world, MANON, ts, "heavy_check_mark")
    await world.slack.drain()
    assert world.mastodon.created_statuses == []
    assert (await world.case(case.case_id)).status == CaseStatus.OPEN
    await react(world, ALICE, ts)  # a second human
    await published(world, case)


async def test_skin_tone_approvals_and_group_manager(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "On regarde ça tout de suite.")
    await react(world, BOB, ts, "+1::skin-tone-3")
    await react(world, MANON, ts, "+1::skin-tone-5")
    await published(world, case)


async def test_manager_veto_then_lifting_it_publishes(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Réponse drôle mais risquée")
    await react(world, MANON, ts, "x")
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await world.slack.drain()
    assert world.mastodon.created_statuses == []
    await unreact(world, MANON, ts, "x")
    await published(world, case)
    assert len(world.mastodon.created_statuses) == 1


async def test_removing_a_reaction_retracts_it(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Texte")
    await react(world, BOB, ts)
    await unreact(world, BOB, ts)
    await react(world, MAX, ts)
    await world.slack.drain()
    assert world.mastodon.created_statuses == []
    await react(world, CAROL, ts)
    await published(world, case)


async def test_event_retries_and_duplicate_reactions_publish_once(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Une seule fois")
    proposal_event = world.slack.deliveries[-1].event_id
    await world.slack.redeliver(proposal_event)  # Slack retries the proposal message
    assert (await world.case(case.case_id)).proposals == 1
    await react(world, BOB, ts)
    await react(world, BOB, ts, "heavy_check_mark")  # a second approve emoji: same person
    await world.slack.drain()
    assert world.mastodon.created_statuses == []
    await react(world, MAX, ts)
    deciding = next(d for d in reversed(world.slack.deliveries) if d.event.get("user") == MAX)
    for _ in range(3):
        retry = await world.slack.redeliver(deciding.event_id)
        assert retry.ok
    await published(world, case)
    await world.slack.drain()
    assert len(world.mastodon.created_statuses) == 1


async def test_concurrent_votes_publish_exactly_once(world: Sandbox) -> None:
    case = await open_case(world)
    proposals = [
        await propose(world, case, author, f"Proposition de {author}")
        for author in (ALICE, BOB, CAROL)
    ]
    voters = [DAVE, MAX, MANON, ALICE, BOB, CAROL]
    reactions = [
        world.slack.add_reaction(voter, CHANNEL, ts, emoji)
        for ts in proposals
        for voter in voters
        for emoji in ("white_check_mark", "+1")
    ]
    results = await asyncio.gather(*reactions, return_exceptions=True)
    assert all(not isinstance(r, Exception) for r in results), results
    await published(world, case)
    await world.slack.drain()
    await asyncio.sleep(0.2)  # let any (wrong) second publish surface
    assert len(world.mastodon.created_statuses) == 1
    assert len(world.mastodon.requests_to("POST", "/api/v1/statuses")) == 1


async def test_three_replicas_publish_once_and_post_one_card(world: Sandbox) -> None:
    await world.add_replica()
    await world.add_replica()
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Trois replicas, une réponse")
    await react(world, BOB, ts)
    await react(world, MAX, ts)
    await published(world, case)
    await asyncio.sleep(0.3)
    assert len(world.mastodon.created_statuses) == 1
    assert len([m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]) == 1  # one card


async def test_edit_clears_votes_and_the_edited_text_is_published(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "Premier jet")
    await react(world, BOB, ts)
    edited = await world.slack.edit_message(CHANNEL, ts, "Version &lt;corrigée&gt; &amp; relue")
    assert edited.ok
    await react(world, MAX, ts)
    await world.slack.drain()
    assert world.mastodon.created_statuses == []  # Bob's vote was cleared by the edit
    await react(world, CAROL, ts)
    await published(world, case)
    (request,) = world.mastodon.requests_to("POST", "/api/v1/statuses")
    assert request.params["status"] == "@colere@mastodon.social Version <corrigée> & relue"


async def test_deleted_proposal_is_withdrawn(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(world, case, ALICE, "À supprimer")
    await react(world, BOB, ts)
    assert (await world.slack.delete_message(CHANNEL, ts)).ok
    assert (await world.case(case.case_id)).proposals == 0
    # a late reaction event on the deleted message is not a vote
    await world.slack.send_event(
        {
            "type": "reaction_added",
            "user": MAX,
            "reaction": "white_check_mark",
            "item_user": ALICE,
            "item": {"type": "message", "channel": CHANNEL, "ts": ts},
            "event_ts": world.slack.new_ts(),
        }
    )
    await world.slack.drain()
    assert world.mastodon.created_statuses == []


async def test_proposal_text_is_what_a_reader_sees(world: Sandbox) -> None:
    case = await open_case(world)
    ts = await propose(
        world,
        case,
        ALICE,
        "Merci <@UBOB> ! Voir <https://status.example.com/panne|notre page> &amp; à bientôt &lt;3",
    )
    await react(world, CAROL, ts)
    await react(world, MAX, ts)
    await published(world, case)
    (request,) = world.mastodon.requests_to("POST", "/api/v1/statuses")
    assert request.params["status"] == (
        "@colere@mastodon.social Merci @Bob ! Voir https://status.example.com/panne & à bientôt <3"
    )


async def test_too_long_proposal_is_refused_with_the_overflow(world: Sandbox) -> None:
    case = await open_case(world)
    prefix = len("@colere ")  # Mastodon counts a remote mention as @user
    text = "x" * (500 - prefix + 7)
    ts = await propose(world, case, ALICE, text)
    await world.wait_for(lambda: world.slack.ephemerals, 5, "ephemeral refusal")
    (refusal,) = world.slack.ephemerals
    assert refusal.user == ALICE and refusal.thread_ts == case.card_ts
    assert "7" in refusal.text
    assert (await world.case(case.case_id)).proposals == 0
    # exactly at the limit it is accepted (a URL counts 23 whatever its length)
    url = "https://example.com/" + "a" * 100
    fits = "y" * (500 - prefix - 23 - 1) + " " + url
    await propose(world, case, BOB, fits)
    assert (await world.case(case.case_id)).proposals == 1
    await world.slack.drain()
    assert world.slack.message(CHANNEL, ts).reactions.get("memo") is None


async def test_hostile_text_is_inert_on_the_card(world: Sandbox) -> None:
    text = "<!channel> <@UMAX> connards <https://evil.example|cliquez ici> &amp; tg"
    case = await open_case(world, text)
    card = card_message(world, case)
    rendered = json.dumps(card.blocks) + card.text
    for forbidden in ("<!channel>", "<@UMAX>", "<https://evil.example|"):
        assert forbidden not in rendered
    assert "&lt;!channel&gt;" in rendered
    assert "&amp;amp;" in rendered  # the user's literal "&amp;" shown as typed


async def test_non_hostile_and_duplicate_mentions(world: Sandbox) -> None:
    from assistant.sandbox import webhook_body

    calm = world.mastodon.add_mention(
        "client@mastodon.social",
        "Ça fait 3 jours que je n'ai pas de réseau, c'est inadmissible.",
    )
    status, answer = await world.ingest(webhook_body(calm))
    assert (status, answer["status"]) == (200, "not_hostile")

    hostile = world.mastodon.add_mention("colere@mastodon.social", "bande de connards")
    first = await world.ingest(webhook_body(hostile))
    again = await world.ingest(webhook_body(hostile))
    assert first[0] == 202 and again[0] == 200
    assert again[1]["status"] == "duplicate" and again[1]["case"] == first[1]["case"]
    # the poller sees both mentions too: still one case
    assert world.app.pollers == {}
    from assistant.networks.mastodon import MastodonClient
    from assistant.sources.poller import Poller

    poller = Poller(
        MastodonClient(world.http, world.mastodon.base_url, "sandbox-mastodon-token"),
        world.app.store,
        world.app.cases.ingest,
    )
    assert await poller.poll_once() == 2
    assert await poller.poll_once() == 0  # the cursor moved on
    await world.card(first[1]["case"])
    cards = [m for m in world.slack.bot_messages(CHANNEL) if not m.is_reply]
    assert len(cards) == 1


async def test_every_key_has_a_retention_after_the_whole_loop(make_world: SandboxFactory) -> None:
    async with make_world(ASSISTANT_SLA_SECONDS=1) as world:
        world.mastodon.fail(times=1, status=503, path="/api/v1/statuses")  # attempts counter
        case = await open_case(world)
        ts = await propose(world, case, ALICE, "Réponse")
        await react(world, BOB, ts)
        await react(world, MAX, ts)
        await published(world, case, timeout=15)
        escalated = await open_case(world, "bande de connards")
        await world.wait_for(lambda: thread_texts(world, escalated), 5, "escalation")
        await react(world, CAROL, ts)  # a late vote on a closed case
        await world.slack.drain()
        redis = world.app.store.redis
        keys = await all_keys(redis)
        assert any(":votes:" in k for k in keys) and any(":evt:" in k for k in keys)
        for key in keys:  # -1: no TTL (-2: gone meanwhile, e.g. the job queue emptied)
            assert await redis.ttl(key) != -1, f"{key} has no retention"
