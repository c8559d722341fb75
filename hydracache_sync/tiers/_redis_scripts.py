"""The Lua scripts RedisStore runs: atomic writes with tag sets, deletes, CAS, locks."""

from __future__ import annotations

__all__ = [
    "DELETE_SCRIPT",
    "GENERATION_TTL_MS",
    "INVALIDATE_TAG_SCRIPT",
    "RELEASE_SCRIPT",
    "SET_IF_CURRENT_SCRIPT",
    "SET_SCRIPT",
    "STORE_FUNCTION",
    "SWAP_SCRIPT",
]

# Store items: for each item the value key, its side record, then one tag set per
# tag in KEYS; ARGV[1] is the tag-set base, ARGV[2] the side-record base, then per
# item its member name, data, ttl in ms (0: none), tag count and the tags.
STORE_FUNCTION = """
local function store(KEYS, ARGV)
local tbase, kbase = ARGV[1], ARGV[2]
local a, k = 3, 1
while a <= #ARGV do
  local member, data = ARGV[a], ARGV[a + 1]
  local ttl, n = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local vkey, skey = KEYS[k], KEYS[k + 1]
  a = a + 4
  k = k + 2
  local keep = {}
  for i = 0, n - 1 do keep[ARGV[a + i]] = true end
  for _, old in ipairs(redis.call('SMEMBERS', skey)) do
    if not keep[old] then redis.call('SREM', tbase .. old, member) end
  end
  redis.call('DEL', skey)
  if ttl > 0 then
    redis.call('SET', vkey, data, 'PX', ttl)
  else
    redis.call('SET', vkey, data)
  end
  if n > 0 then
    for i = 0, n - 1 do
      local tkey = KEYS[k + i]
      redis.call('SADD', skey, ARGV[a + i])
      local left = redis.call('PTTL', tkey)
      redis.call('SADD', tkey, member)
      if ttl == 0 then
        if left >= 0 then redis.call('PERSIST', tkey) end
      elseif left == -2 or (left >= 0 and left < ttl) then
        redis.call('PEXPIRE', tkey, ttl)
      end
    end
    if ttl > 0 then redis.call('PEXPIRE', skey, ttl) end
    for i = 0, n - 1 do
      local tag, tkey = ARGV[a + i], KEYS[k + i]
      for _, m in ipairs(redis.call('SRANDMEMBER', tkey, 2)) do
        if redis.call('SISMEMBER', kbase .. m, tag) == 0 then
          redis.call('SREM', tkey, m)
        end
      end
    end
  end
  a = a + n
  k = k + n
end
return 0
end
"""

SET_SCRIPT = STORE_FUNCTION + "return store(KEYS, ARGV)\n"

# Check-and-set: KEYS starts with ARGV[1] generation keys whose values must still
# equal ARGV[2..1+g] ('' for absent); the rest of KEYS/ARGV is a store() call.
SET_IF_CURRENT_SCRIPT = (
    STORE_FUNCTION
    + """
local g = tonumber(ARGV[1])
for i = 1, g do
  local current = redis.call('GET', KEYS[i]) or ''
  if current ~= ARGV[1 + i] then return 0 end
end
local keys, args = {}, {}
for i = g + 1, #KEYS do keys[#keys + 1] = KEYS[i] end
for i = g + 2, #ARGV do args[#args + 1] = ARGV[i] end
store(keys, args)
return 1
"""
)

# Compare-and-set: ARGV[1] is '0' (store only if absent) or '1' (only if the
# value key still holds ARGV[2]); KEYS and ARGV[3..] are one store() call.
SWAP_SCRIPT = (
    STORE_FUNCTION
    + """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
local args = {}
for i = 3, #ARGV do args[#args + 1] = ARGV[i] end
store(KEYS, args)
return 1
"""
)

# Release a lock only while the caller's token holds it.
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: Generation counters outlive any reasonable load (refreshed on every bump).
GENERATION_TTL_MS = 3_600_000

# Delete entries: KEYS holds n value keys then their n side records; ARGV[1] is
# the tag-set base, ARGV[2] the key-generation base, ARGV[3] the generation TTL,
# ARGV[4..] the members. Bumps each key's generation. Returns how many value
# keys existed.
DELETE_SCRIPT = """
local tbase, gbase, gttl = ARGV[1], ARGV[2], ARGV[3]
local n, removed = #KEYS / 2, 0
for i = 1, n do
  local skey = KEYS[n + i]
  local member = ARGV[i + 3]
  redis.call('INCR', gbase .. member)
  redis.call('PEXPIRE', gbase .. member, gttl)
  for _, tag in ipairs(redis.call('SMEMBERS', skey)) do
    redis.call('SREM', tbase .. tag, member)
  end
  redis.call('UNLINK', skey)
  removed = removed + redis.call('UNLINK', KEYS[i])
end
return removed
"""

# Invalidate a tag: KEYS[1] is the tag set; ARGV holds the value-key, side-record
# and tag-set bases and the tag. A member counts only while its side record still
# lists the tag, so stale members never remove a re-tagged entry.
INVALIDATE_TAG_SCRIPT = """
local vbase, kbase, tbase, tag = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('INCR', ARGV[5])
redis.call('PEXPIRE', ARGV[5], ARGV[6])
local removed = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local skey = kbase .. m
  if redis.call('SISMEMBER', skey, tag) == 1 then
    for _, other in ipairs(redis.call('SMEMBERS', skey)) do
      if other ~= tag then redis.call('SREM', tbase .. other, m) end
    end
    redis.call('UNLINK', skey)
    removed = removed + redis.call('UNLINK', vbase .. m)
  end
end
redis.call('UNLINK', KEYS[1])
return removed
"""
