-- Charges one call on every shared limit it touches, all or none, in one round trip, on the
-- Redis server's clock (so the machines' clocks never disagree about a window).
--
-- KEYS[1]      the provider's pause key (set by a 429/418 seen by any instance)
-- KEYS[1 + i]  limit i's key (a prefix for fixed windows and monthly quotas)
-- ARGV[1]      number of limits n
-- then per limit, 7 values: kind, capacity (limit minus the safety margin), interval_ms,
--              decay_per_sec, amount, period (fixed: unused; monthly: "YYYY-MM|ms to month end"),
--              extra (fixed windows: units to reserve beyond `amount` if they fit, else 0)
-- Returns {1, 0, "", now_ms, granted_extra_1, ..., granted_extra_n} when charged, or
-- {0, wait_ms, limit_index} when it does not fit now. Extras are granted as far as they fit
-- and never make a call wait: the call's own amount decides.

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local pause = redis.call('PTTL', KEYS[1])
if pause > 0 then
  return {0, pause, 'pause'}
end

local n = tonumber(ARGV[1])
local plan = {}
local worst, worst_i = 0, nil

for i = 1, n do
  local a = 1 + (i - 1) * 7
  local kind, cap = ARGV[a + 1], tonumber(ARGV[a + 2])
  local interval, decay = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local amount, period = tonumber(ARGV[a + 5]), ARGV[a + 6]
  local extra = tonumber(ARGV[a + 7]) or 0
  local key = KEYS[1 + i]
  local wait, p = 0, {kind = kind, key = key, amount = amount, interval = interval}

  if kind == 'fixed_window' then
    local w = math.floor(now / interval)
    p.key = key .. ':' .. w
    local used = tonumber(redis.call('GET', p.key) or '0')
    if used + amount > cap then wait = (w + 1) * interval - now end
    p.extra = math.max(0, math.min(extra, cap - used - amount))
    p.ttl = interval + 1000
  elseif kind == 'sliding_window' then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - interval)
    local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    local used = 0
    for j = 1, #entries, 2 do
      used = used + tonumber(string.match(entries[j], ':([^:]+)$'))
    end
    if used + amount > cap then
      -- The oldest entries leave the window first: wait until enough of them have.
      local freed = 0
      for j = 1, #entries, 2 do
        freed = freed + tonumber(string.match(entries[j], ':([^:]+)$'))
        if used - freed + amount <= cap then
          wait = tonumber(entries[j + 1]) + interval - now
          break
        end
      end
      if wait <= 0 then wait = interval end
    end
    p.ttl = interval + 1000
  elseif kind == 'decaying_counter' then
    local v = tonumber(redis.call('HGET', key, 'v') or '0')
    local at = tonumber(redis.call('HGET', key, 't') or tostring(now))
    v = math.max(0, v - decay * (now - at) / 1000)
    p.value = v
    if v + amount > cap then wait = math.ceil((v + amount - cap) / decay * 1000) end
    p.ttl = math.ceil(cap / decay * 1000) + 1000
  elseif kind == 'pool_window' then
    local start = tonumber(redis.call('HGET', key, 's') or '-1')
    local used = tonumber(redis.call('HGET', key, 'u') or '0')
    if start < 0 or now >= start + interval then start, used = now, 0 end
    p.start, p.used = start, used
    if used + amount > cap then wait = start + interval - now end
    p.ttl = interval + 1000
  elseif kind == 'monthly_quota' then
    local month, left = string.match(period, '^([^|]+)|(%d+)$')
    p.key = key .. ':' .. month
    local used = tonumber(redis.call('GET', p.key) or '0')
    if used + amount > cap then wait = tonumber(left) end
    p.ttl = tonumber(left) + 86400000
  else
    return redis.error_reply('unknown limit kind ' .. kind)
  end

  if wait > worst then worst, worst_i = wait, i end
  plan[i] = p
end

if worst_i then
  return {0, math.max(1, worst), tostring(worst_i)}
end

local out = {1, 0, '', now}
for i = 1, n do
  local p = plan[i]
  local granted = p.extra or 0
  out[4 + i] = tostring(granted)
  if p.kind == 'fixed_window' or p.kind == 'monthly_quota' then
    redis.call('INCRBYFLOAT', p.key, p.amount + granted)
    redis.call('PEXPIRE', p.key, p.ttl)
  elseif p.kind == 'sliding_window' then
    local seq = redis.call('INCR', p.key .. ':seq')
    redis.call('PEXPIRE', p.key .. ':seq', p.ttl)
    redis.call('ZADD', p.key, now, now .. ':' .. seq .. ':' .. p.amount)
    redis.call('PEXPIRE', p.key, p.ttl)
  elseif p.kind == 'decaying_counter' then
    redis.call('HSET', p.key, 'v', p.value + p.amount, 't', now)
    redis.call('PEXPIRE', p.key, p.ttl)
  elseif p.kind == 'pool_window' then
    redis.call('HSET', p.key, 's', p.start, 'u', p.used + p.amount)
    redis.call('PEXPIRE', p.key, p.ttl)
  end
end
return out
