"""Drafts (optional): the assistant asks an OpenAI-compatible LLM for up to two replies and
posts them in the case thread as proposals of its own.

Off unless ASSISTANT_LLM_URL is set: nothing leaves the machine otherwise. The card's record
queues a ``drafts`` job in the same step (card_posted.lua; the sweep re-queues it on a
cluster, until the job has asked the model); it calls ``POST {ASSISTANT_LLM_URL}/chat/completions``
over the app's one aiohttp session, within ASSISTANT_LLM_TIMEOUT_SECONDS, with the brand
voice (ASSISTANT_BRAND_VOICE_FILE), the mention, its language, the network's length limit
and a few remembered replies to similar mentions as examples. Any failure (unreachable,
timeout, an error answer, nothing usable) means no drafts and one log line: the job is not
retried, and the loop never waits for it.

A draft is a proposal like any other: it must fit the network (the length rule of every
proposal; a draft that does not is dropped), it needs the same quorum, and the assistant is
its author, so every human vote on it counts. The model's answer is kept with the case before
anything is posted, so a job run again after a crash posts the same drafts, at most once each.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ValidationError

from assistant import memory_blocks
from assistant.memory import ReplyMemory, _why_not, post_proposal
from assistant.models import Case, CaseStatus, Suggestion
from assistant.networks import rule_for
from assistant.settings import Settings
from assistant.similarity import language
from assistant.store import Job, keys

log = logging.getLogger(__name__)

MAX_DRAFTS = 2
EXAMPLES = 3
LANG_NAMES = {"fr": "French", "en": "English", "es": "Spanish", "de": "German", "it": "Italian"}
ANSWER_MAX_BYTES = 64 * 1024


class LLMError(Exception):
    """The LLM endpoint gave no usable answer (one line, never the key)."""


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _Completion(BaseModel):
    choices: list[_Choice]


class LLMClient:
    """``POST {url}/chat/completions`` (OpenAI's chat completions shape)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        model: str,
        api_key: str | None,
        *,
        timeout: float,
    ) -> None:
        self.session = session
        self.endpoint = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    @property
    def where(self) -> str:
        """The endpoint's host, for log lines (no path, no credentials)."""
        parts = urlsplit(self.endpoint)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"

    async def complete(self, messages: list[dict[str, str]]) -> str:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {"model": self.model, "messages": messages, "temperature": 0.7}
        try:
            async with self.session.post(
                self.endpoint,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                raw = await resp.content.read(ANSWER_MAX_BYTES)
                if resp.status >= 400:
                    raise LLMError(f"answered HTTP {resp.status}")
        except TimeoutError:
            raise LLMError(f"did not answer within {self.timeout:g} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise LLMError(f"is unreachable ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise LLMError(f"failed ({type(exc).__name__})") from None
        try:
            completion = _Completion.model_validate_json(raw)
        except ValidationError:
            raise LLMError("answered something that is not a chat completion") from None
        if not completion.choices or not completion.choices[0].message.content:
            raise LLMError("answered no text")
        return completion.choices[0].message.content


def prompt(
    case: Case, brand_voice: str, examples: list[Suggestion], *, limit: int, unit: str
) -> list[dict[str, str]]:
    """The chat messages asking for MAX_DRAFTS replies (pure: tests read it)."""
    code = language(case.mention.text, case.mention.lang)
    lang_name = LANG_NAMES.get(code, "the language of the mention")
    shown = "\n".join(
        f"- Mention: {' '.join(e.mention.split())[:300]}\n  Our reply: {e.reply}" for e in examples
    )
    system = (
        "You write short, witty, kind replies for a brand's community team to hostile "
        "social media mentions. Never insult, never promise compensation, never reveal you "
        "are an AI.\n"
        f"Brand voice:\n{brand_voice.strip() or '(none given)'}\n\n"
        f'Answer with a JSON object {{"replies": [..]}} holding {MAX_DRAFTS} different '
        f"replies, each in {lang_name}, each at most {limit} {unit}, without the author's "
        "handle (it is added)."
    )
    user = f"Language: {code}\nNetwork: {case.mention.platform}\nMention:\n{case.mention.text}"
    if shown:
        user += f"\n\nReplies the team published to similar mentions:\n{shown}"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


def parse_replies(content: str) -> list[str]:
    """The replies in a model's answer: the JSON object asked for, else one per line."""
    text = _FENCE.sub("", content.strip())
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("replies"), list):
        found = [r for r in data["replies"] if isinstance(r, str)]
    else:
        found = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line) for line in text.splitlines()]
    replies = [" ".join(r.split()).strip().strip('"') for r in found]
    return list(dict.fromkeys(r for r in replies if r))


class Drafter:
    """Job ``drafts`` (id: case id): see the module docstring."""

    def __init__(
        self, settings: Settings, memory: ReplyMemory, session: aiohttp.ClientSession
    ) -> None:
        assert settings.ASSISTANT_LLM_URL is not None and settings.ASSISTANT_LLM_MODEL
        key = settings.ASSISTANT_LLM_API_KEY
        self.client = LLMClient(
            session,
            str(settings.ASSISTANT_LLM_URL),
            settings.ASSISTANT_LLM_MODEL,
            key.get_secret_value() if key else None,
            timeout=settings.ASSISTANT_LLM_TIMEOUT_SECONDS,
        )
        self.voice = _brand_voice(settings.ASSISTANT_BRAND_VOICE_FILE)
        self.memory = memory
        self.clock: Callable[[], float] = memory.clock

    async def run(self, job: Job) -> None:
        store = self.memory.store
        case = await store.get_case(job.id)
        if case is None or case.card_ts is None or case.status is not CaseStatus.OPEN:
            return
        replies = await self._replies(case)
        bot = self.memory.slack.bot_user_id or "assistant"
        for number, reply in enumerate(replies, 1):
            text, blocks = memory_blocks.draft_message(reply, number)
            outcome = await post_proposal(
                store,
                self.memory.slack,
                case,
                what=f"draft.{number}",
                text=text,
                blocks=blocks,
                reply=reply,
                proposer=bot,
                now=self.clock(),
            )
            if outcome == "closed":
                break
        if replies:
            log.info("%d draft(s) posted as proposals", len(replies))
            self.memory.on_due()

    async def _replies(self, case: Case) -> list[str]:
        """The drafts for this case: asked once, kept with the case (a rerun reuses them)."""
        key = keys.case(case.case_id)
        saved = await self.memory.store.redis.hget(key, "drafts")
        if saved is not None:
            return [str(r) for r in json.loads(saved)]
        replies: list[str] = []
        try:
            replies = await self._ask(case)
        except LLMError as exc:
            log.warning("no drafts for this case: the LLM endpoint %s %s", self.client.where, exc)
        await self.memory.store.redis.hsetnx(key, "drafts", json.dumps(replies))
        saved = await self.memory.store.redis.hget(key, "drafts")
        return [str(r) for r in json.loads(saved or "[]")]

    async def _ask(self, case: Case) -> list[str]:
        rule = rule_for(case.mention.platform)
        limit, unit = (rule.limit, rule.unit) if rule else (500, "characters")
        examples = (case.suggestions or [])[:EXAMPLES]
        if not examples:
            examples = await self.memory.index.similar(
                case.mention.text, lang=case.mention.lang, limit=EXAMPLES, exclude=case.case_id
            )
        content = await self.client.complete(
            prompt(case, self.voice, examples, limit=limit, unit=unit)
        )
        drafts = parse_replies(content)
        kept = [d for d in drafts if _why_not(case, d) is None][:MAX_DRAFTS]
        if drafts and not kept:
            raise LLMError(f"gave {len(drafts)} draft(s), none publishable on the network")
        if not drafts:
            raise LLMError("answered no reply")
        return kept

    async def give_up(self, job: Job, reason: str) -> None:
        log.warning("no drafts for this case: %s", reason)


def _brand_voice(path: Path | None) -> str:
    """The brand voice text (checked readable at start-up by the settings)."""
    if path is None:
        return ""
    return path.read_text(encoding="utf-8")[:4000]
