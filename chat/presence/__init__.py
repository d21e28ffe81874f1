"""Who is online in each room, across processes, without ghosts; and who is typing.

A user is online in a room while at least one of their connections, on any process,
is open. Each process counts its own connections per (room, user) and tells a shared
store only about the first arrival and the last departure, so a second tab is
silent. With Redis each process's entry carries an expiry it keeps refreshing; the
entries of a process that died without cleanup expire, and the next sweep (any
process) removes them and announces who left. Without Redis one process is all there
is and the store is a dictionary.

Service layer: keeps the rules and publishes presence events; consumers call it.
  keys.py     the Redis key layout, the one definition every reader and writer uses
  scripts.py  the Lua scripts that change it atomically
  stores.py   the stores (Redis, or one process's memory) and how long an entry lives
  tracker.py  the per-process counting and the batching of presence frames
  online.py   who is online, for sync code (a database thread)
  typing_notice.py  the typing frame
"""
