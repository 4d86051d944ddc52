"""pydantic models of the Slack payloads the assistant handles, and the safe body parser.

The HTTP edge (assistant/edge.py) checks the envelope before Bolt sees it; the listeners
(handlers/) parse the event they handle into its model. A payload that does not validate is
a :class:`~assistant.errors.BadPayload` (answered 400, never 500). Every string is valid
Unicode that Redis can store (no lone surrogate) and bounded; unknown fields are accepted
(Slack adds fields over time) and ignored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.errors import BadPayload
from assistant.models import Str

# ASCII only ([0-9], not \d: the validator's regex engine counts any Unicode digit as \d)
Id = Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_\-]*$")]
UserId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
"""Who acted: never empty (an empty id would only cost a users.info call, or a job that
publishes App Home for nobody)."""
Ts = Annotated[str, Field(max_length=32, pattern=r"^[0-9]{1,12}(\.[0-9]{1,9})?$")]
Text = Annotated[Str, Field(max_length=64_000)]


def _storable(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode (a lone surrogate)") from None
    return value


class _Model(BaseModel):
    # unknown fields (Slack adds some over time) are accepted and not copied
    model_config = ConfigDict(extra="ignore", frozen=True)


class EventHeader(_Model):
    """The part of any event the edge checks before dispatching: its type."""

    type: Annotated[Str, Field(min_length=1, max_length=100)]


class EventEnvelope(_Model):
    """An Events API ``event_callback`` envelope (``event`` is checked by its listener)."""

    type: Literal["event_callback"]
    event_id: Id = ""
    team_id: Id | None = None
    api_app_id: Id | None = None
    event: EventHeader


class ReactionItem(_Model):
    type: Annotated[Str, Field(max_length=64)]
    channel: Id = ""
    ts: Ts | Literal[""] = ""


class ReactionEvent(_Model):
    """``reaction_added`` / ``reaction_removed``."""

    type: Literal["reaction_added", "reaction_removed"]
    user: UserId
    reaction: Annotated[Str, Field(max_length=200)]
    item: ReactionItem
    item_user: Id | None = None


class MessageFields(_Model):
    """A message object (an event's own fields, or its ``message``/``previous_message``)."""

    user: Id | None = None
    text: Text | None = None
    ts: Ts | None = None
    thread_ts: Ts | None = None
    bot_id: Id | None = None
    subtype: Annotated[Str, Field(max_length=100)] | None = None
    blocks: (
        Annotated[list[dict[str, Any]], Field(max_length=50), AfterValidator(_storable)] | None
    ) = None
    """Block Kit (rich_text for a human message): a list of objects, as Slack documents, with
    no string Redis could not store; what reads their inside validates that part."""


class MessageEvent(MessageFields):
    """``message`` in a channel, with any subtype (edits and deletions carry the message)."""

    type: Literal["message"]
    channel: Id = ""
    message: MessageFields | None = None
    previous_message: MessageFields | None = None
    deleted_ts: Ts | None = None


class AppHomeOpened(_Model):
    """``app_home_opened``: someone opened the app's Home (or Messages, About) tab."""

    type: Literal["app_home_opened"]
    user: UserId
    tab: Annotated[Str, Field(max_length=32)] = "home"


class PayloadUser(_Model):
    id: UserId
    team_id: Id | None = None


class PayloadTeam(_Model):
    id: Id


class BlockAction(_Model):
    action_id: Annotated[Str, Field(min_length=1, max_length=255)]
    block_id: Annotated[Str, Field(max_length=255)] | None = None
    value: Annotated[Str, Field(max_length=2000)] | None = None


class PayloadChannel(_Model):
    id: Id


class PayloadContainer(_Model):
    message_ts: Annotated[Str, Field(min_length=1, max_length=32)] | None = None


class BlockActions(_Model):
    """An interactivity ``block_actions`` payload (a button click, in a message or App Home)."""

    type: Literal["block_actions"]
    user: PayloadUser
    team: PayloadTeam | None = None
    channel: PayloadChannel | None = None
    container: PayloadContainer = PayloadContainer()
    actions: Annotated[list[BlockAction], Field(min_length=1, max_length=25)]

    @property
    def team_id(self) -> str | None:
        return self.team.id if self.team else self.user.team_id

    @property
    def value(self) -> str:
        """The clicked button's value ("" when it carries none)."""
        return self.actions[0].value or ""


class MessageButtonClick(BlockActions):
    """A click on a button of a message in a conversation: its channel is known, and the
    one button clicked carries the value the listener acts on."""

    channel: PayloadChannel

    @model_validator(mode="after")
    def _one_button_with_a_value(self) -> MessageButtonClick:
        if len(self.actions) != 1 or not self.actions[0].value:
            raise ValueError("actions: one clicked button with a value")
        return self


class SlashCommand(_Model):
    """A slash command's form fields."""

    command: Annotated[Str, Field(min_length=2, max_length=32, pattern=r"^/")]
    text: Annotated[Str, Field(max_length=4000)] = ""
    user_id: UserId
    team_id: Id | None = None
    channel_id: Id = ""


EventModel = TypeVar(
    "EventModel",
    ReactionEvent,
    MessageEvent,
    AppHomeOpened,
    BlockActions,
    MessageButtonClick,
    SlashCommand,
)


def parse_event(model: type[EventModel], event: Any) -> EventModel:
    """The event as ``model`` (BadPayload naming the first bad field)."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        raise BadPayload(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """The first error as ``field: message`` (no input value: it came from outside)."""
    err = exc.errors(include_input=False, include_url=False)[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return f"{field}: {err['msg']}"


# -- the body -------------------------------------------------------------------------------


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_json(text: str) -> Any:
    """json.loads with bounds: an integer over Python's 4,300 digits, nesting deeper than the
    interpreter allows, NaN or Infinity raise ValueError, like anything that is not JSON.
    (Fields that are numbers bound their values in their models.)"""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deep") from None


# -- block actions ---------------------------------------------------------------------------


def parse_click(body: Any) -> MessageButtonClick:
    """A click on a message's button as a model (BadPayload naming the first bad field)."""
    return parse_event(MessageButtonClick, body)
