"""Redis, the one store: the typed API over the key schema (keys.py) and Lua scripts (lua/)."""

from assistant.store.store import Job, Proposal, Store, VoteResult, is_unavailable

__all__ = ["Job", "Proposal", "Store", "VoteResult", "is_unavailable"]
