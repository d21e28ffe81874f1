"""The Lua scripts that change presence in Redis atomically (the key layout: keys.py).
Text only: registering and running them is the Redis store's (stores.py)."""

# KEYS: zset of "user|process" -> expiry, hash user -> live entry count, set of rooms.
ARRIVE = """
local added = redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[3])
if added == 1 then
  return redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
end
return 0
"""
DEPART = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then
  local left = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
  if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[2]) end
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
  return left
end
return -1
"""
SWEEP = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local gone = {}
for _, member in ipairs(expired) do
  redis.call('ZREM', KEYS[1], member)
  local user = string.match(member, '^(.*)|[^|]*$')
  if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
    redis.call('HDEL', KEYS[2], user)
    table.insert(gone, user)
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return gone
"""
# ARRIVE for one user in many rooms at once (a connect), so that it costs one command,
# not one per room. KEYS: the set of rooms, then each room's zset and hash; ARGV: entry,
# expiry, user, then the room ids. Returns ARRIVE's answer per room.
ARRIVE_MANY = """
local out = {}
for i = 4, #ARGV do
  local k = 2 + (i - 4) * 2
  local added = redis.call('ZADD', KEYS[k], ARGV[2], ARGV[1])
  redis.call('SADD', KEYS[1], ARGV[i])
  if added == 1 then
    out[#out + 1] = redis.call('HINCRBY', KEYS[k + 1], ARGV[3], 1)
  else
    out[#out + 1] = 0
  end
end
return out
"""
# DEPART for one user from many rooms (a close). KEYS as ARRIVE_MANY's; ARGV: entry,
# user, then the room ids. Returns DEPART's answer per room.
DEPART_MANY = """
local out = {}
for i = 3, #ARGV do
  local k = 2 + (i - 3) * 2
  local left = -1
  if redis.call('ZREM', KEYS[k], ARGV[1]) == 1 then
    left = redis.call('HINCRBY', KEYS[k + 1], ARGV[2], -1)
    if left <= 0 then redis.call('HDEL', KEYS[k + 1], ARGV[2]) end
    if redis.call('EXISTS', KEYS[k]) == 0 then redis.call('SREM', KEYS[1], ARGV[i]) end
  end
  out[#out + 1] = left
end
return out
"""
