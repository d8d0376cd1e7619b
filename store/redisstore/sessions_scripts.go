package redisstore

import "github.com/redis/go-redis/v9"

// Session hash fields: sub, created, used, exp, idle (µs), ua, ip, cur, prev, rot (µs, 0 before the
// first rotation), old (comma-separated rotated-out hashes, newest first, at most SessionHistory).
// Times are unix microseconds; Lua numbers are doubles, exact up to 2^53 µs (year 2255).

// sessionTTL is shared by the scripts that renew a session's TTL: it sets the TTL of KEYS[1] to
// min(exp - now, used + idle - now) and deletes the session if that is not positive. It returns
// whether the session is still alive.
const sessionTTL = `
local function sess_ttl(key, now)
  local f = redis.call('HMGET', key, 'exp', 'idle', 'used')
  local ttl = math.min(tonumber(f[1]) - now, tonumber(f[3]) + tonumber(f[2]) - now)
  if ttl <= 0 then
    redis.call('DEL', key)
    return false
  end
  redis.call('PEXPIRE', key, string.format('%d', math.ceil(ttl / 1000)))
  return true
end
`

// sessionCreateScript: KEYS = session, user index. ARGV = sid, sub, now, exp, idle, ua, ip, cur.
var sessionCreateScript = redis.NewScript(sessionTTL + `
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('REVOCAST_SESSION_EXISTS session id taken')
end
local now = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'sub', ARGV[2], 'created', ARGV[3], 'used', ARGV[3], 'exp', ARGV[4],
  'idle', ARGV[5], 'ua', ARGV[6], 'ip', ARGV[7], 'cur', ARGV[8], 'prev', '', 'rot', '0', 'old', '')
if not sess_ttl(KEYS[1], now) then
  return 0
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
local top = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], string.format('%d', math.ceil((tonumber(top[2]) - now) / 1000) + 1))
return 1
`)

// sessionTouchScript: KEYS = session. ARGV = now. Returns 1, or 0 when the session is gone or ended.
var sessionTouchScript = redis.NewScript(sessionTTL + `
local f = redis.call('HMGET', KEYS[1], 'exp', 'idle', 'used')
if not f[1] then
  return 0
end
local now = tonumber(ARGV[1])
if now >= tonumber(f[1]) or now >= tonumber(f[3]) + tonumber(f[2]) then
  redis.call('DEL', KEYS[1])
  return 0
end
if now > tonumber(f[3]) then
  redis.call('HSET', KEYS[1], 'used', ARGV[1])
end
if sess_ttl(KEYS[1], now) then
  return 1
end
return 0
`)

// sessionRotateScript: KEYS = session. ARGV = presented, next, now, grace (µs), history size.
// Returns {0} not found / unknown hash / ended, {1, HGETALL} rotated, {2, sub} reuse (deleted).
var sessionRotateScript = redis.NewScript(sessionTTL + `
local h = redis.call('HMGET', KEYS[1], 'sub', 'exp', 'idle', 'used', 'cur', 'prev', 'rot', 'old')
if not h[1] then
  return {0}
end
local now = tonumber(ARGV[3])
local used = tonumber(h[4])
if now >= tonumber(h[2]) or now >= used + tonumber(h[3]) then
  redis.call('DEL', KEYS[1])
  return {0}
end
local presented = ARGV[1]
if presented == h[5] then
  local old = presented
  if h[8] ~= '' then
    old = old .. ',' .. h[8]
  end
  local keep, n = {}, 0
  for part in string.gmatch(old, '[^,]+') do
    n = n + 1
    if n > tonumber(ARGV[5]) then
      break
    end
    keep[n] = part
  end
  redis.call('HSET', KEYS[1], 'prev', presented, 'cur', ARGV[2], 'rot', ARGV[3], 'old', table.concat(keep, ','))
elseif h[6] ~= '' and presented == h[6] and now - tonumber(h[7]) <= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'cur', ARGV[2])
elseif h[8] ~= '' and string.find(',' .. h[8] .. ',', ',' .. presented .. ',', 1, true) then
  redis.call('DEL', KEYS[1])
  return {2, h[1]}
else
  return {0}
end
if now > used then
  redis.call('HSET', KEYS[1], 'used', ARGV[3])
end
if not sess_ttl(KEYS[1], now) then
  return {0}
end
return {1, redis.call('HGETALL', KEYS[1])}
`)

// sessionDeleteScript: KEYS = session. ARGV = user key prefix ("{p}:user:"), sid. Returns 1 if the
// session existed.
var sessionDeleteScript = redis.NewScript(`
local sub = redis.call('HGET', KEYS[1], 'sub')
if not sub then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. sub .. ':sessions', ARGV[2])
return 1
`)

// sessionListScript: KEYS = user index. ARGV = session key prefix, now. Returns {sid, HGETALL, ...}
// for the sessions that exist, and prunes index entries that are gone or past their absolute end.
var sessionListScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local out = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HGETALL', ARGV[1] .. sid)
  if #h == 0 then
    redis.call('ZREM', KEYS[1], sid)
  else
    out[#out + 1] = sid
    out[#out + 1] = h
  end
end
return out
`)

// sessionDeleteAllScript: KEYS = user index. ARGV = session key prefix. Returns how many sessions
// it deleted.
var sessionDeleteAllScript = redis.NewScript(`
local n = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  n = n + redis.call('DEL', ARGV[1] .. sid)
end
redis.call('DEL', KEYS[1])
return n
`)
