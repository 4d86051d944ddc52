"""Malformed, forged and oversized requests on every route: a 4xx with a reason, never a 500.

Each row is sent as raw bytes (so non-ASCII header bytes, repeated headers and chunked bodies
are what the app really receives) to the real app. Unauthenticated rows must be refused before
anything is parsed (401/413); authenticated but malformed ones get 400 (with
``X-Slack-No-Retry`` on Slack's route); a well-formed Slack event of a shape we ignore gets 200.
Afterwards the app is healthy, nothing reached Slack, and no body was logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

import pytest

from assistant.logs import LIBRARY_LEVELS
from assistant.oncall_blocks import ACK_ACTION
from assistant.sandbox import (
    ALICE,
    CHANNEL,
    INGEST_SECRET,
    OLIVIA,
    SIGNING_SECRET,
    Sandbox,
    webhook_body,
)
from tests.e2e.helpers import open_case
from tests.e2e.rawhttp import raw_request

MARK = "MARK-3f9c1e"  # in every body: it must never appear in the log
JSON_TYPE = (b"Content-Type", b"application/json")
GZIP = (b"Content-Encoding", b"gzip")
FORM_TYPE = (b"Content-Type", b"application/x-www-form-urlencoded")


def slack_headers(body: bytes, *, ts: int | None = None) -> list[tuple[bytes, bytes]]:
    stamp = str(int(time.time()) if ts is None else ts).encode()
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp + b":" + body, hashlib.sha256)
    return [
        (b"X-Slack-Request-Timestamp", stamp),
        (b"X-Slack-Signature", b"v0=" + digest.hexdigest().encode()),
    ]


def ingest_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    digest = hmac.new(INGEST_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return [(b"X-Signature-256", b"sha256=" + digest.encode())]


def envelope(event: object, **extra: object) -> bytes:
    body = {"type": "event_callback", "event_id": "Ev0MARK", "team_id": "T0001", "event": event}
    body.update(extra)
    return json.dumps(body).replace("Ev0MARK", "Ev0" + MARK.replace("-", "")).encode()


def reaction(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "type": "reaction_added",
        "user": ALICE,
        "reaction": "white_check_mark",
        "item": {"type": "message", "channel": CHANNEL, "ts": "1764000000.000100"},
        "event_ts": "1764000000.000200",
    }
    event.update(changes)
    return event


@dataclass
class Row:
    route: str
    body: bytes
    headers: Callable[[bytes], list[tuple[bytes, bytes]]] = lambda b: []
    status: int = 401
    content_type: tuple[bytes, bytes] | None = JSON_TYPE
    chunked: bool = False
    extra: list[tuple[bytes, bytes]] = field(default_factory=list)


SLACK, INGEST, BATCH = "/slack/events", "/ingest/mentions", "/ingest/mentions/batch"
FAKE_LINE = f"\n2026-11-30 03:00:00,000 ERROR assistant.app case=- {MARK} injected\n".encode()
VALID_EVENT = envelope(reaction())

ROWS: dict[str, Row] = {
    # -- /slack/events, not authenticated: 401 (or 413) before anything is parsed
    "slack unsigned non-JSON": Row(SLACK, b"{not json " + MARK.encode()),
    "slack unsigned fake log line": Row(SLACK, b"x" + FAKE_LINE),
    "slack timestamp not a number": Row(
        SLACK, VALID_EVENT, lambda b: [(b"X-Slack-Request-Timestamp", b"abc")]
    ),
    "slack timestamp 400 digits": Row(
        SLACK,
        VALID_EVENT,
        lambda b: [(b"X-Slack-Request-Timestamp", b"9" * 400), (b"X-Slack-Signature", b"v0=0")],
    ),
    "slack timestamp negative": Row(
        SLACK,
        VALID_EVENT,
        lambda b: [
            (b"X-Slack-Request-Timestamp", b"-5"),
            (b"X-Slack-Signature", b"v0=" + b"0" * 64),
        ],
    ),
    "slack timestamp unicode digits": Row(
        SLACK, VALID_EVENT, lambda b: [(b"X-Slack-Request-Timestamp", "١٧٦٤".encode())]
    ),
    "slack stale (replay)": Row(
        SLACK, VALID_EVENT, lambda b: slack_headers(b, ts=int(time.time()) - 301)
    ),
    "slack signature non-ASCII": Row(
        SLACK,
        VALID_EVENT,
        lambda b: [*slack_headers(b)[:1], (b"X-Slack-Signature", b"v0=\xff\xfe")],
    ),
    "slack signature wrong": Row(
        SLACK,
        VALID_EVENT,
        lambda b: [*slack_headers(b)[:1], (b"X-Slack-Signature", b"v0=" + b"0" * 64)],
    ),
    "slack signature repeated": Row(
        SLACK, VALID_EVENT, lambda b: slack_headers(b) + slack_headers(b)[1:]
    ),
    "slack signature for another body": Row(SLACK, VALID_EVENT, lambda b: slack_headers(b + b" ")),
    "slack oversized (Content-Length)": Row(
        SLACK, b"{" + b" " * (1024 * 1024 + 10) + b"}", status=413
    ),
    "slack oversized (chunked)": Row(
        SLACK, b"{" + b" " * (1024 * 1024 + 10) + b"}", status=413, chunked=True
    ),
    # -- /slack/events, authenticated but malformed: 400
    "slack signed non-JSON": Row(SLACK, b"{not json " + MARK.encode(), slack_headers, 400),
    "slack signed not UTF-8": Row(SLACK, b'{"type": "\xff\xfe"}', slack_headers, 400),
    "slack signed JSON list": Row(SLACK, b"[1, 2]", slack_headers, 400),
    "slack signed no type": Row(SLACK, b'{"event": {}}', slack_headers, 400),
    "slack signed event null": Row(SLACK, envelope(None), slack_headers, 400),
    "slack signed event list": Row(SLACK, envelope([reaction()]), slack_headers, 400),
    "slack signed event without type": Row(SLACK, envelope({"user": ALICE}), slack_headers, 400),
    "slack signed deep nesting": Row(
        SLACK,
        b'{"type": "event_callback", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        slack_headers,
        400,
    ),
    "slack signed 5000-digit number": Row(
        SLACK,
        envelope(reaction(), event_time=0).replace(
            b'"event_time": 0', b'"event_time": ' + b"9" * 5000
        ),
        slack_headers,
        400,
    ),
    "slack signed NaN": Row(
        SLACK,
        envelope(reaction(), event_time=0).replace(b'"event_time": 0', b'"event_time": NaN'),
        slack_headers,
        400,
    ),
    "slack signed item a string": Row(SLACK, envelope(reaction(item="C1/123")), slack_headers, 400),
    "slack signed user an object": Row(
        SLACK, envelope(reaction(user={"id": ALICE})), slack_headers, 400
    ),
    "slack signed user a number": Row(SLACK, envelope(reaction(user=42)), slack_headers, 400),
    "slack signed authorizations a number": Row(
        SLACK, envelope(reaction(), authorizations=5), slack_headers, 400
    ),
    "slack signed message text a list": Row(
        SLACK,
        envelope(
            {
                "type": "message",
                "channel": CHANNEL,
                "user": ALICE,
                "text": ["a"],
                "ts": "1764000000.000100",
            }
        ),
        slack_headers,
        400,
    ),
    "slack signed message lone surrogate": Row(
        SLACK,
        envelope(
            {
                "type": "message",
                "channel": CHANNEL,
                "user": ALICE,
                "text": "x",
                "ts": "1764000000.000100",
                "thread_ts": "1764000000.000001",
            }
        ).replace(b'"text": "x"', b'"text": "\\ud800 ' + MARK.encode() + b'"'),
        slack_headers,
        400,
    ),
    "slack signed message lone surrogate in blocks": Row(
        SLACK,
        envelope(
            {
                "type": "message",
                "channel": CHANNEL,
                "user": ALICE,
                "text": "x",
                "ts": "1764000000.000100",
                "blocks": [{"type": "rich_text", "elements": [{"type": "text", "text": "x"}]}],
            }
        ).replace(b'"text": "x"}', b'"text": "\\udfff"}'),
        slack_headers,
        400,
    ),
    "slack signed message edit with message a string": Row(
        SLACK,
        envelope(
            {"type": "message", "subtype": "message_changed", "channel": CHANNEL, "message": "hi"}
        ),
        slack_headers,
        400,
    ),
    "slack signed bad form payload": Row(
        SLACK, b"payload=%7Bnot-json" + MARK.encode(), slack_headers, 400, FORM_TYPE
    ),
    "slack signed form payload a list": Row(
        SLACK, b"payload=" + quote("[1]").encode(), slack_headers, 400, FORM_TYPE
    ),
    "slack signed form too many fields": Row(
        SLACK,
        b"&".join(b"f%d=1" % i for i in range(500)) + b"&payload=x",
        slack_headers,
        400,
        FORM_TYPE,
    ),
    # -- /slack/events, authenticated and well-formed but nothing we handle: 200
    "slack signed bogus charset": Row(
        SLACK,
        VALID_EVENT,
        slack_headers,
        200,
        (b"Content-Type", b"application/json; charset=x-bogus"),
    ),
    "slack signed unknown event type": Row(
        SLACK,
        envelope({"type": "app_mention", "user": ALICE, "text": "hi", "channel": CHANNEL}),
        slack_headers,
        200,
    ),
    "slack signed channel_join message": Row(
        SLACK,
        envelope(
            {
                "type": "message",
                "subtype": "channel_join",
                "channel": CHANNEL,
                "user": ALICE,
                "ts": "1764000000.000100",
            }
        ),
        slack_headers,
        200,
    ),
    "slack signed reaction on a file": Row(
        SLACK, envelope(reaction(item={"type": "file", "file": "F1"})), slack_headers, 200
    ),
    "slack signed unknown envelope type": Row(
        SLACK, b'{"type": "app_rate_limited", "minute_rate_limited": 1}', slack_headers, 200
    ),
    # -- /ingest/mentions
    "ingest unsigned": Row(INGEST, b"{}" + MARK.encode()),
    "ingest unsigned fake log line": Row(INGEST, b"x" + FAKE_LINE),
    "ingest signature non-ASCII": Row(
        INGEST, b"{}", lambda b: [(b"X-Signature-256", b"sha256=\xff" + b"0" * 63)]
    ),
    "ingest signature not hex": Row(INGEST, b"{}", lambda b: [(b"X-Signature-256", b"sha256=zz")]),
    "ingest signature repeated": Row(INGEST, b"{}", lambda b: ingest_headers(b) * 2),
    "ingest signature wrong": Row(
        INGEST, b"{}", lambda b: [(b"X-Signature-256", b"sha256=" + b"0" * 64)]
    ),
    "ingest oversized": Row(INGEST, b" " * (64 * 1024 + 1), status=413),
    "ingest oversized chunked": Row(INGEST, b" " * (64 * 1024 + 1), status=413, chunked=True),
    "ingest signed non-JSON": Row(INGEST, b"{not json" + MARK.encode(), ingest_headers, 400),
    "ingest signed not UTF-8": Row(INGEST, b'{"text": "\xff"}', ingest_headers, 400),
    "ingest signed deep nesting": Row(INGEST, b"[" * 30_000 + b"]" * 30_000, ingest_headers, 400),
    "ingest signed list": Row(INGEST, b"[1, 2]", ingest_headers, 400),
    "ingest signed bogus charset": Row(
        INGEST, b"{}", ingest_headers, 400, (b"Content-Type", b"application/json; charset=x-bogus")
    ),
}


def command(text: str, **changes: str) -> bytes:
    """A slash command's form body, as Slack sends it."""
    fields = {
        "team_id": "T0001",
        "channel_id": CHANNEL,
        "user_id": OLIVIA,
        "command": "/ops",
        "text": text,
        "response_url": "http://127.0.0.1:9/response/x",
        "trigger_id": "1.2.x",
    }
    fields.update(changes)
    return urlencode(fields).encode()


def click(action_id: str, value: object, **changes: object) -> bytes:
    """A block_actions form body (a button click in a message), as Slack sends it."""
    payload: dict[str, object] = {
        "type": "block_actions",
        "user": {"id": OLIVIA, "team_id": "T0001"},
        "team": {"id": "T0001"},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "message_ts": "1764000000.000100"},
        "response_url": "http://127.0.0.1:9/response/x",
        "actions": [{"action_id": action_id, "block_id": "b", "value": value}],
    }
    payload.update(changes)
    return b"payload=" + quote(json.dumps(payload)).encode()


def interaction(kind: str, **fields: object) -> bytes:
    """A signed interactivity payload of a kind we have no listener for."""
    return b"payload=" + quote(json.dumps({"type": kind, **fields})).encode()


ROWS.update(
    {
        # -- interactivity kinds we have no listener for: 200, not handed to Bolt (whose
        # matchers index them without checking their shape)
        "slack signed view_submission without view": Row(
            SLACK, interaction("view_submission", user={"id": ALICE}), slack_headers, 200, FORM_TYPE
        ),
        "slack signed view_submission with view a list": Row(
            SLACK, interaction("view_submission", view=[1]), slack_headers, 200, FORM_TYPE
        ),
        "slack signed workflow_step_edit": Row(
            SLACK, interaction("workflow_step_edit", callback_id="x"), slack_headers, 200, FORM_TYPE
        ),
        "slack signed shortcut with view null": Row(
            SLACK, interaction("shortcut", view=None), slack_headers, 200, FORM_TYPE
        ),
        "slack signed block_suggestion": Row(
            SLACK, interaction("block_suggestion", view="x"), slack_headers, 200, FORM_TYPE
        ),
        "slack signed interactive_message": Row(
            SLACK, interaction("interactive_message", actions=None), slack_headers, 200, FORM_TYPE
        ),
        # -- our buttons and command with hostile values
        "slack signed click without response_url": Row(
            SLACK,
            click("surge_promote", "0123456789abcdef", response_url=None),
            slack_headers,
            200,
            FORM_TYPE,
        ),
        "slack signed click with a deeply nested value": Row(
            SLACK, click("memory_propose", "[" * 1999), slack_headers, 200, FORM_TYPE
        ),
        "slack signed click by nobody": Row(
            SLACK, click("oncall_ack", "p1", user={"id": ""}), slack_headers, 400, FORM_TYPE
        ),
        "slack signed click with actions a string": Row(
            SLACK, click("oncall_ack", "p1", actions="x"), slack_headers, 400, FORM_TYPE
        ),
        "slack signed /ops pause with a superscript digit": Row(
            SLACK, command("pause ²"), slack_headers, 200, FORM_TYPE
        ),
        "slack signed /ops pause with 5000 digits": Row(
            SLACK, command("pause " + "9" * 3900), slack_headers, 200, FORM_TYPE
        ),
        "slack signed /ops without user": Row(
            SLACK, command("status", user_id=""), slack_headers, 400, FORM_TYPE
        ),
        "slack signed /ops not UTF-8": Row(
            SLACK, b"command=%2Fops&user_id=UOLIVIA&text=%ff", slack_headers, 400, FORM_TYPE
        ),
        "slack signed app_home_opened by nobody": Row(
            SLACK,
            envelope({"type": "app_home_opened", "user": "", "tab": "home"}),
            slack_headers,
            400,
        ),
        # -- compressed bodies are read as sent (never inflated): refused like any other
        "slack unsigned gzip body": Row(SLACK, b"\x1f\x8bnot-gzip", extra=[GZIP]),
        "ingest unsigned deflate body": Row(
            INGEST, b"not-deflate", extra=[(b"Content-Encoding", b"deflate")]
        ),
        "batch unsigned gzip body": Row(BATCH, b"\x1f\x8bnot-gzip", extra=[GZIP]),
        "slack signed gzip body": Row(SLACK, b"\x1f\x8b\x08\x00", slack_headers, 400, extra=[GZIP]),
        "ingest signed gzip body": Row(
            INGEST, b"\x1f\x8b\x08\x00", ingest_headers, 400, extra=[GZIP]
        ),
        # -- the batch webhook
        "batch unsigned": Row(BATCH, b"{}" + MARK.encode()),
        "batch unsigned fake log line": Row(BATCH, b"x" + FAKE_LINE),
        "batch signature non-ASCII": Row(
            BATCH, b"{}", lambda b: [(b"X-Signature-256", b"sha256=\xff" + b"0" * 63)]
        ),
        "batch oversized": Row(BATCH, b" " * (1024 * 1024 + 1), status=413),
        "batch oversized chunked": Row(BATCH, b" " * (1024 * 1024 + 1), status=413, chunked=True),
        "batch signed non-JSON": Row(BATCH, b"{not json" + MARK.encode(), ingest_headers, 400),
        "batch signed deep nesting": Row(
            BATCH, b'{"mentions": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", ingest_headers, 400
        ),
        "batch signed 5000-digit number": Row(
            BATCH, b'{"mentions": [' + b"9" * 5000 + b"]}", ingest_headers, 400
        ),
        "batch signed mentions null": Row(BATCH, b'{"mentions": null}', ingest_headers, 400),
        "batch signed mentions empty": Row(BATCH, b'{"mentions": []}', ingest_headers, 400),
        "batch signed mentions an object": Row(BATCH, b'{"mentions": {}}', ingest_headers, 400),
        "batch signed list": Row(BATCH, b"[]", ingest_headers, 400),
    }
)


def mention_body(world: Sandbox, **changes: object) -> bytes:
    body = webhook_body(world.mastodon.add_mention("colere@mastodon.social", "bande de connards"))
    body.update(changes)
    return json.dumps(body).encode()


async def send(world: Sandbox, row: Row) -> tuple[int, dict[str, str], bytes]:
    headers = [*row.headers(row.body), *row.extra]
    if row.content_type:
        headers.append(row.content_type)
    answer = await raw_request(
        world.app.port or 0, "POST", row.route, headers, row.body, chunked=row.chunked
    )
    return answer.status, answer.headers, answer.body


async def test_every_hostile_request_gets_its_status_and_never_500(
    world: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in LIBRARY_LEVELS:  # whatever an earlier test configured: every library at DEBUG
        caplog.set_level(logging.DEBUG, logger=name)
    got: dict[str, int] = {}
    for name, row in ROWS.items():
        status, headers, body = await send(world, row)
        got[name] = status
        if status >= 400:
            assert json.loads(body)["error"], name  # a short reason
            assert len(body) < 300, (name, body)
        if row.route == SLACK and status == 400:
            assert headers.get("x-slack-no-retry") == "1", name
        assert "server" not in headers and headers["x-content-type-options"] == "nosniff"
    assert got == {name: row.status for name, row in ROWS.items()}
    # signed mentions with bad values get 400 too
    surrogate = mention_body(world, text="\ud800 connards")
    huge_number = mention_body(world).replace(b'"followers": 0', b'"followers": ' + b"9" * 5000)
    assert b"9" * 5000 in huge_number
    # an ignored field with a NaN or Infinity (pydantic's JSON parser, the fast path, would
    # take them; json.loads refuses them): still not JSON
    nan, infinity = (
        mention_body(world).replace(b'"followers": 0', b'"followers": 0, "x": ' + token)
        for token in (b"NaN", b"-Infinity")
    )
    expected = {
        surrogate: "text: ",
        huge_number: "body is not JSON",  # over Python's 4,300 digits
        nan: "body is not JSON",
        infinity: "body is not JSON",
    }
    for raw, reason in expected.items():
        status, _, body = await send(world, Row(INGEST, raw, ingest_headers))
        assert status == 400, body
        assert json.loads(body)["error"].startswith(reason), (reason, body)
    async with world.http.get(f"{world.base_url}/healthz") as resp:
        assert resp.status == 200
    assert world.slack.calls_to("chat.postMessage") == []
    pending = await world.app.store.pending_jobs()
    assert [job for job in pending if not job.startswith("sweep:")] == []  # no case, no card
    assert MARK not in caplog.text  # no body (or header) was logged, even at DEBUG
    assert "injected" not in caplog.text


async def test_the_valid_rows_do_work(world: Sandbox) -> None:
    """The signed, well-formed baseline the hostile rows mutate is accepted and acted on."""
    case = await open_case(world)
    body = envelope(reaction(item={"type": "message", "channel": CHANNEL, "ts": case.card_ts}))
    status, _, _ = await send(world, Row(SLACK, body, slack_headers))
    assert status == 200
    status, headers, answer = await send(world, Row(INGEST, mention_body(world), ingest_headers))
    assert status == 202, answer
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(answer)["status"] == "opened"


@pytest.mark.parametrize("route", [SLACK, INGEST])
async def test_a_body_that_never_arrives_gets_408(
    world: Sandbox, route: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from assistant import edge

    monkeypatch.setattr(edge, "BODY_READ_SECONDS", 0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", world.app.port)
    writer.write(f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{}}".encode())
    await writer.drain()
    raw = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert raw.startswith(b"HTTP/1.1 408"), raw[:100]


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


def _replaced(value: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]  # type: ignore[index]
    target[path[-1]] = new  # type: ignore[index]
    return copy


async def test_any_field_of_any_type_is_a_4xx_or_200_never_500(world: Sandbox) -> None:
    """Every field of real Slack envelopes (as the emulator sends them) swapped for odd values
    of every JSON type (three per field, in rotation), signed: the app answers 200 or 400,
    never 500, and stays healthy. (Run with every value on every field while writing it.)"""
    case = await open_case(world)
    posted = await world.slack.post_message(
        ALICE, "Réponse", channel=CHANNEL, thread_ts=case.card_ts
    )
    reacted = await world.slack.add_reaction(ALICE, CHANNEL, str(case.card_ts), "x")
    edited = await world.slack.edit_message(CHANNEL, posted, "Autre")
    deleted = await world.slack.delete_message(CHANNEL, posted)
    samples = [d.envelope for d in (posted.delivery, reacted, edited, deleted)]
    odd_values: list[object] = [None, [], {}, 5, -1.5, "x", True, "\ud800", {"id": "U1"}]
    statuses: dict[int, int] = {}
    paths = [(sample, path) for sample in samples for path in _paths(sample) if len(path) <= 4]
    for n, (sample, path) in enumerate(paths):
        for k in range(3):  # three of the odd values per field, in rotation (all over the run)
            odd = odd_values[(3 * n + k) % len(odd_values)]
            body = json.dumps(_replaced(sample, path, odd)).encode()
            status, _, answer = await send(world, Row(SLACK, body, slack_headers))
            statuses[status] = statuses.get(status, 0) + 1
            assert status in (200, 400), (path, odd, status, answer[:200])
    assert statuses[400] > 50 and statuses[200] > 50, statuses
    async with world.http.get(f"{world.base_url}/healthz") as resp:
        assert resp.status == 200


async def test_any_field_of_a_signed_mention_is_a_4xx_or_accepted_never_500(
    world: Sandbox,
) -> None:
    """The same swaps in a mention sent alone and as the second of a batch: the batch is
    refused 400 naming ``mentions.1.<field>``, or answered with one result per mention."""
    sample = json.loads(mention_body(world))
    other = json.loads(mention_body(world))
    odd_values: list[object] = [None, [], {}, 5, -1.5, "", "x" * 70_000, True, "\ud800", "\x00"]
    statuses: dict[int, int] = {}
    for path in _paths(sample):
        for odd in odd_values:
            mutated = _replaced(sample, path, odd)
            body = json.dumps(mutated).encode()
            status, _, answer = await send(world, Row(INGEST, body, ingest_headers))
            statuses[status] = statuses.get(status, 0) + 1
            assert status in (200, 202, 400, 413), (path, odd, status, answer[:200])
            batch = json.dumps({"mentions": [other, mutated]}).encode()
            status, _, answer = await send(world, Row(BATCH, batch, ingest_headers))
            assert status in (200, 400), (path, odd, status, answer[:200])
            if status == 400:
                assert json.loads(answer)["field"].startswith("mentions.1"), answer[:200]
            else:
                assert len(json.loads(answer)["results"]) == 2, answer[:200]
    assert statuses[400] > 30, statuses


INTERACTION_KINDS = (
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
    "block_suggestion",
    "interactive_message",
    "workflow_step_edit",
)


async def test_any_field_of_any_interaction_is_a_4xx_or_200_never_500(
    world: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Every field of a real button click (a page's Acknowledge, as Slack sends it) swapped for
    odd values, as each of our buttons and as each interactivity kind we have no listener for;
    every field of a real ``/ops`` command, and hostile ``/ops`` arguments: 200 or 400, never
    a 500, no traceback logged, and the app stays healthy."""
    case = await open_case(world)
    await world.app.pager.page(CHANNEL, "Réveillez-vous", thread_ts=case.card_ts, key="p-fuzz")
    page = await world.wait_for(lambda: _message_with(world, ACK_ACTION), 5, "the page")
    clicked = await world.slack.click_button(OLIVIA, CHANNEL, page.ts, ACK_ACTION)
    ran = await world.slack.slash_command(OLIVIA, "/ops", "status", channel=CHANNEL)
    assert clicked.ok and ran.ok, (clicked.attempts, ran.attempts)
    base = clicked.envelope
    samples = [base]
    samples += [_replaced(base, ("actions", 0, "action_id"), a) for a in ACTIONS_WE_HANDLE]
    samples += [_replaced(base, ("type",), kind) for kind in INTERACTION_KINDS]
    odd_values: list[object] = [None, [], {}, 5, -1.5, "x", True, "\ud800", {"id": "U1"}]
    odd_values += ["[" * 1999, ""]
    statuses: dict[int, int] = {}

    async def post(body: bytes, what: object) -> None:
        status, _, answer = await send(world, Row(SLACK, body, slack_headers, 0, FORM_TYPE))
        statuses[status] = statuses.get(status, 0) + 1
        assert status in (200, 400), (what, status, answer[:200])

    paths = [(sample, path) for sample in samples for path in _paths(sample) if len(path) <= 3]
    for n, (sample, path) in enumerate(paths):
        for k in range(2):  # two of the odd values per field, in rotation
            odd = odd_values[(2 * n + k) % len(odd_values)]
            await post(b"payload=" + quote(json.dumps(_replaced(sample, path, odd))).encode(), path)
    fields = {k: str(v) for k, v in ran.envelope.items()}
    odd_strings = ["", "x" * 5000, "/", "/other", "é", "a\nb", "²", "{", "payload"]
    for n, name in enumerate(fields):
        for k in range(3):
            odd = odd_strings[(3 * n + k) % len(odd_strings)]
            await post(urlencode({**fields, name: odd}).encode(), (name, odd))
        await post(urlencode({k: v for k, v in fields.items() if k != name}).encode(), name)
    for text in HOSTILE_OPS:
        await post(urlencode({**fields, "text": text}).encode(), text)
    assert statuses[400] > 50 and statuses[200] > 50, statuses
    async with world.http.get(f"{world.base_url}/healthz") as resp:
        assert resp.status == 200
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"


ACTIONS_WE_HANDLE = ("surge_promote", "memory_propose", "unknown_action")
HOSTILE_OPS = [
    "pause ²",
    "pause ١٢",
    "pause 𝟙𝟚",
    "pause " + "9" * 3990,
    "pause -1",
    "pause 1.5",
    "ack " + "x" * 3990,
    "ack {",
    "ack *",
    "ack \x00",
    "ack <!channel>",
    "status payload",
    "help payload=x",
    "a\n2026-11-30 03:00:00,000 ERROR assistant.app case=- forged",
]


def _message_with(world: Sandbox, action_id: str) -> object:
    return next(
        (m for m in world.slack.bot_messages(CHANNEL) if action_id in json.dumps(m.blocks or [])),
        None,
    )


@pytest.mark.parametrize("text", ["help payload", "ack payload=1&x"])
async def test_a_command_that_says_payload_is_answered(world: Sandbox, text: str) -> None:
    """Bolt reads any form body containing the word "payload" as an interaction (and finds
    nothing in it): such a command was refused 400 at the edge, or lost."""
    before = len(world.slack.ephemerals)
    delivery = await world.slack.slash_command(OLIVIA, "/ops", text, channel=CHANNEL)
    assert delivery.status == 200, delivery.attempts
    (answer,) = world.slack.ephemerals[before:]
    assert ("`/ops status`" if text.startswith("help") else "payload=1&amp;x") in answer.text
