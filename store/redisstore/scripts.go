package redisstore

import "github.com/redis/go-redis/v9"

// The scripts format every number they pass to Redis with string.format('%d'), because Lua 5.1's
// default number-to-string conversion keeps only 14 significant digits.

// appendScript: KEYS = seq, log, exp. ARGV = now (unix ms, removal is exclusive of it), how many
// expired entries to remove at most, max sequence, then (member tail, drop-after unix ms) per entry.
// A member tail is the event's encoding without Seq and without its leading {"v":1 (memberHead);
// the script puts memberHead, ,"seq":N and the tail together, which is byte for byte the encoding
// with Seq N. It returns {last assigned sequence, number of duplicates, number of expired entries
// removed}.
var appendScript = redis.NewScript(`
local n = (#ARGV - 3) / 2
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur > tonumber(ARGV[3]) - n then -- (cur + n could round: doubles)
  return redis.error_reply('REVOCAST_OVERFLOW sequence would exceed 2^53')
end
local last = redis.call('INCRBY', KEYS[1], n)
local first = last - n
local dups = 0
for i = 1, n do
  local seq = string.format('%d', first + i)
  if redis.call('ZADD', KEYS[2], 'NX', seq, '{"v":1,"seq":' .. seq .. ARGV[2 + 2 * i]) == 1 then
    redis.call('ZADD', KEYS[3], ARGV[3 + 2 * i], seq)
  else
    dups = dups + 1
  end
end
local old = redis.call('ZRANGE', KEYS[3], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, s in ipairs(old) do
  redis.call('ZREMRANGEBYSCORE', KEYS[2], s, s)
end
if #old > 0 then
  redis.call('ZREM', KEYS[3], unpack(old))
end
return {last, dups, #old}
`)

// sweepScript: KEYS = log, exp. ARGV = now (unix ms, exclusive), limit. Returns how many it removed.
var sweepScript = redis.NewScript(`
local old = redis.call('ZRANGE', KEYS[2], '-inf', '(' .. ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, s in ipairs(old) do
  redis.call('ZREMRANGEBYSCORE', KEYS[1], s, s)
end
if #old > 0 then
  redis.call('ZREM', KEYS[2], unpack(old))
end
return #old
`)

// afterScript: KEYS = seq, log. ARGV = after, limit. Returns {head, {member, ...}, score of the
// last member or '0'} read in one atomic step.
var afterScript = redis.NewScript(`
local head = redis.call('GET', KEYS[1]) or '0'
local items = redis.call('ZRANGE', KEYS[2], '(' .. ARGV[1], head, 'BYSCORE', 'LIMIT', 0, ARGV[2])
local last = '0'
if #items > 0 then
  last = redis.call('ZSCORE', KEYS[2], items[#items])
end
return {head, items, last}
`)
