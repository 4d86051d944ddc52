"""Labelled JSONL files: reading, the deterministic train/held-out split, the shared data dir."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DataError",
    "Example",
    "is_heldout",
    "read_jsonl",
    "shared_data_dir",
]

_TRUE = {"hostile", "true", "1", "yes", "toxic", "offensive"}
_FALSE = {"not_hostile", "false", "0", "no", "non_hostile", "neither", "normal"}


class DataError(ValueError):
    """A line of a labelled file that cannot be read; the message names the line."""


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    hostile: bool
    source: str
    orig: str = ""
    """The source's own label (``orig_label``), when the file gives one."""


def _label(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return None


def read_jsonl(path: Path, default_source: str | None = None) -> Iterator[Example]:
    """Examples of a JSONL file with ``text`` and ``label`` (``hostile``/``not_hostile``,
    a bool or 0/1) and an optional ``source``. Blank lines are skipped.

    Raises ``DataError`` naming the line number for a malformed line.
    """
    source_default = default_source or path.stem
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{number}: expected a JSON object")
            text = obj.get("text")
            if not isinstance(text, str):
                raise DataError(f"{path}:{number}: missing or non-string 'text'")
            label = _label(obj.get("label"))
            if label is None:
                raise DataError(
                    f"{path}:{number}: label {obj.get('label')!r} is not hostile/not_hostile, "
                    "a bool or 0/1"
                )
            source = obj.get("source")
            orig = obj.get("orig_label")
            yield Example(
                text,
                label,
                str(source) if source else source_default,
                orig if isinstance(orig, str) else "",
            )


def is_heldout(text: str) -> bool:
    """Deterministic 20 % held-out split by hash of the (stripped, lowercased) text, so that
    duplicates and retweets of the same text always fall on the same side."""
    digest = hashlib.sha256(text.strip().lower().encode("utf-8")).digest()
    return digest[0] % 5 == 0


def shared_data_dir() -> Path:
    """``$ASSISTANT_SHARED_DATA`` or ``<repo root>/../shared/data``."""
    env = os.environ.get("ASSISTANT_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"
