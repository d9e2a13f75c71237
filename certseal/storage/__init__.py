"""The kernel's storage room: the only kernel package that imports asyncpg.

``pool`` opens connections and applies migrations (the kernel's own are in
``migrations/``), ``outbox`` writes and relays outbox rows, ``audit`` writes, seals and
verifies the audit chain, ``worker`` is the leader-elected LISTEN/NOTIFY loop both run
on, and ``kek`` re-wraps every wrapped key under a new key-encryption key.
"""
