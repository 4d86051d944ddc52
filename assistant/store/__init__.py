"""Redis, the one store: the typed API over the key schema (keys.py) and Lua scripts (lua/)."""

from assistant.store.store import (
    AuditEntry,
    Claim,
    Job,
    Proposal,
    RedisClient,
    Store,
    SurgeSnapshot,
    VoteResult,
    is_unavailable,
)

__all__ = [
    "AuditEntry",
    "Claim",
    "Job",
    "Proposal",
    "RedisClient",
    "Store",
    "SurgeSnapshot",
    "VoteResult",
    "is_unavailable",
]
