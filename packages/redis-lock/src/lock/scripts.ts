/**
 * The Lua scripts of the lock, one per operation. Each runs atomically on one Redis node; the quorum logic
 * lives in `redlock-client.ts`. Every script compares the stored token with the caller's, so only the owner
 * can extend, fence or release a lock. Each is sent as `EVALSHA` of its SHA1, computed once here; a node that
 * does not know the script yet (`NOSCRIPT`) gets `EVAL` of its source, which also loads it.
 */
import { createHash } from 'node:crypto'

/** A Lua script and the SHA1 of its source, the name Redis knows it by once loaded. */
export interface LuaScript {
  /** The operation, for messages: `'acquire'`, `'extend'`, `'release'`, `'fence'`. */
  readonly name: string
  /** The Lua source, sent with `EVAL` when a node answers `NOSCRIPT`. */
  readonly source: string
  /** Lowercase hex SHA1 of `source`, sent with `EVALSHA`. */
  readonly sha1: string
}

function luaScript(name: string, source: string): LuaScript {
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') }
}

/** Take the lock if it is free. */
export const ACQUIRE_SCRIPT: LuaScript = luaScript(
  'acquire',
  `
-- acquire: take a lock if no owner holds it.
-- KEYS[1]: the lock key.
-- ARGV[1]: the owner's random token (a new one for every attempt); ARGV[2]: the time to live, in milliseconds.
-- Returns 1 when this token took the lock, 0 when another owner holds it.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
`,
)

/**
 * Take the lock if it is free and, where it is granted, draw a fencing token in the same script: the key's
 * counter becomes max(counter + 1, the node's clock in microseconds), as round 1 of {@link FENCE_SCRIPT} does.
 * For a store that checks fences: the first write then needs no round of its own on one node (see `fence` in
 * `redlock-client.ts` for the quorum argument).
 */
export const ACQUIRE_FENCED_SCRIPT: LuaScript = luaScript(
  'acquire',
  `
-- acquire, fenced: take a lock if no owner holds it, and draw a fencing token where it was taken.
-- KEYS[1]: the lock key; KEYS[2]: the fencing counter (same hash tag, so same Cluster slot).
-- ARGV[1]: the owner's random token (a new one for every attempt); ARGV[2]: the time to live, in milliseconds;
-- ARGV[3]: the counter's time to live, in milliseconds.
-- Returns the counter's new value (>= 1) when this token took the lock, 0 when another owner holds it; an
-- error, touching nothing, when the value would pass 2^53 - 1.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local now = redis.call('TIME')
local value = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, tonumber(now[1]) * 1000000 + tonumber(now[2]))
if value > 9007199254740991 then
  return redis.error_reply('fencing counter ' .. KEYS[2] .. ' would pass 2^53 - 1')
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], string.format('%.0f', value), 'PX', ARGV[3])
return value
`,
)

/** Reset the TTL of a lock this token holds. */
export const EXTEND_SCRIPT: LuaScript = luaScript(
  'extend',
  `
-- extend: reset the TTL of a lock, only for its owner.
-- KEYS[1]: the lock key.
-- ARGV[1]: the owner's token; ARGV[2]: the new time to live, in milliseconds.
-- Returns 1 when extended, 0 when the key is missing or held by another token.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`,
)

/** Delete a lock this token holds (compare-and-delete). */
export const RELEASE_SCRIPT: LuaScript = luaScript(
  'release',
  `
-- release: delete a lock, only for its owner (compare-and-delete).
-- KEYS[1]: the lock key.
-- ARGV[1]: the owner's token.
-- Returns 1 when deleted, 0 when the key is missing or held by another token (nothing is touched).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`,
)

/**
 * Delete a lock this token holds and, in the same script, raise the key's fencing counter to the token the
 * acquire drew (never lower it): for a lock acquired with a fence on N > 1 nodes, whose token may sit on one
 * granting node only. A later owner can take the lock on a node only once it is gone there, so where this
 * owner released it, the later owner draws more than this token (see `holdFence` in `redlock-client.ts`).
 */
export const RELEASE_FENCED_SCRIPT: LuaScript = luaScript(
  'release',
  `
-- release, fenced: raise the key's fencing counter to the owner's token, then delete the lock, only for its
-- owner (compare-and-delete).
-- KEYS[1]: the lock key; KEYS[2]: the fencing counter (same hash tag, so same Cluster slot).
-- ARGV[1]: the owner's token; ARGV[2]: the fencing token the acquire drew; ARGV[3]: the counter's time to
-- live, in milliseconds.
-- Returns 1 when deleted, 0 when the key is missing or held by another token (nothing is touched).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current < tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
end
return redis.call('DEL', KEYS[1])
`,
)

/**
 * Check the lock is still this token's, renew its TTL, and move the key's fencing counter. Round 1
 * (`increment` 1) takes max(counter + 1, the node's clock in microseconds); round 2 (`increment` 0) raises the
 * counter to `floor`. Only the owner moves it, so it grows with every new owner; the clock keeps it growing when a
 * node restarts empty (see "Fencing tokens" in the README for the algorithm and its clock assumption).
 */
export const FENCE_SCRIPT: LuaScript = luaScript(
  'fence',
  `
-- fence: confirm ownership, renew the lock, and advance the key's fencing counter.
-- KEYS[1]: the lock key; KEYS[2]: the fencing counter (same hash tag, so same Cluster slot).
-- ARGV[1]: the owner's token; ARGV[2]: the lock's time to live, in milliseconds;
-- ARGV[3]: increment: 1 to take a new token, max(counter + 1, this node's TIME in microseconds);
--          0 to only raise the counter to the floor;
-- ARGV[4]: floor (the counter ends >= it); ARGV[5]: the counter's time to live, in milliseconds.
-- Returns the counter's new value (>= 1), or -1 when the lock is not held by this token (nothing changed);
-- an error, touching nothing, when the value would pass 2^53 - 1 (no longer an exact integer here or in JS).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local value = math.max(current, tonumber(ARGV[4]))
if ARGV[3] == '1' then
  local now = redis.call('TIME')
  value = math.max(current + 1, tonumber(now[1]) * 1000000 + tonumber(now[2]), tonumber(ARGV[4]))
end
if value > 9007199254740991 then
  return redis.error_reply('fencing counter ' .. KEYS[2] .. ' would pass 2^53 - 1')
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], string.format('%.0f', value), 'PX', ARGV[5])
return value
`,
)
