from __future__ import annotations

import pytest

from assistant.voting import ThreadMessage, classify_reaction, decide, managers_required, tally


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


def test_tally_counts_distinct_people_and_only_managers_vetoes() -> None:
    votes = {
        "U1|approve|+1": "0",
        "U1|approve|white_check_mark": "0",
        "UM|approve|+1": "1",
        "U2|veto|x": "0",
    }
    assert tally(votes) == (2, 1, 0)
    assert tally({**votes, "UM2|veto|no_entry": "1"}) == (2, 1, 1)


@pytest.mark.parametrize(
    ("counts", "flagged", "extra", "wins"),
    [
        ((2, 1, 0), False, 1, True),
        ((2, 1, 0), True, 1, False),  # flagged: one more manager approval
        ((2, 2, 0), True, 1, True),
        ((3, 2, 0), True, 2, False),
        ((3, 3, 0), True, 2, True),
        ((2, 1, 0), True, 0, True),  # surcharge switched off
        ((5, 5, 1), False, 0, False),  # a manager veto holds
    ],
)
def test_tone_flag_raises_the_manager_quorum(
    counts: tuple[int, int, int], flagged: bool, extra: int, wins: bool
) -> None:
    needed = managers_required(1, tone_flagged=flagged, tone_extra=extra)
    assert decide(*counts, approvals_required=2, managers_needed=needed) is wins
