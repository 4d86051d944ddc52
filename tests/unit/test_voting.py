from __future__ import annotations

import pytest

from assistant.voting import ThreadMessage, classify_reaction


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("white_check_mark", ("approve", "white_check_mark")),
        ("heavy_check_mark", ("approve", "heavy_check_mark")),
        ("+1", ("approve", "+1")),
        ("+1::skin-tone-3", ("approve", "+1")),
        ("x", ("veto", "x")),
        ("no_entry", ("veto", "no_entry")),
        ("-1", None),
        ("memo", None),
        ("heart", None),
        ("x_x", None),
    ],
)
def test_which_emoji_are_votes(name: str, expected: object) -> None:
    assert classify_reaction(name) == expected


def test_message_events_of_each_kind() -> None:
    new = ThreadMessage.from_event(
        {
            "type": "message",
            "channel": "C1",
            "user": "U1",
            "text": "hi",
            "ts": "2",
            "thread_ts": "1",
        }
    )
    assert new == ThreadMessage("new", "C1", "2", "1", "U1", "hi", False)
    edited = ThreadMessage.from_event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": "C1",
            "message": {"user": "U1", "text": "v2", "ts": "2", "thread_ts": "1"},
            "previous_message": {"user": "U1", "text": "hi", "ts": "2", "thread_ts": "1"},
        }
    )
    assert edited == ThreadMessage("edited", "C1", "2", "1", "U1", "v2", False)
    deleted = ThreadMessage.from_event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": "C1",
            "deleted_ts": "2",
            "previous_message": {"user": "U1", "text": "v2", "ts": "2", "thread_ts": "1"},
        }
    )
    assert deleted == ThreadMessage("deleted", "C1", "2", "1", "U1", "", False)
    bot = ThreadMessage.from_event(
        {"type": "message", "channel": "C1", "bot_id": "B1", "user": "UB", "text": "x", "ts": "3"}
    )
    assert bot is not None and bot.from_bot


@pytest.mark.parametrize(
    "subtype", ["channel_join", "bot_message", "thread_broadcast", "file_share", "me_message"]
)
def test_other_subtypes_are_not_proposals(subtype: str) -> None:
    event = {"type": "message", "subtype": subtype, "channel": "C1", "user": "U1", "ts": "2"}
    assert ThreadMessage.from_event(event) is None
