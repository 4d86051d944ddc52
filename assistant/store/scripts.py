"""The Lua steps' sources (``lua/<name>.lua``), read once per process."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

FRAGMENTS = ("_audit.lua", "_count.lua")  # functions every step may call: audit(), count_hostile()


@cache
def lua_source(name: str) -> str:
    """``lua/<name>.lua`` with the fragments prepended: every step may audit the decision it
    makes in the same step (lua/_audit.lua) and count a stored mention (lua/_count.lua)."""
    lua = files("assistant.store").joinpath("lua")
    return "".join(lua.joinpath(f).read_text() for f in (*FRAGMENTS, f"{name}.lua"))
