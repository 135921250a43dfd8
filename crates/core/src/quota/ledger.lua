-- latticelm's limit ledger for Redis: ledger.rs's `apply`, step for step,
-- over Redis hashes rather than one JSON value, so that an operation costs
-- a few field reads and writes whatever the traffic (tests/limits.rs runs
-- both on the same operations and compares every answer).
--
-- KEYS: each shard's key (`latticelm:limits:<shard>`), in the order the
-- op's scopes first name them. ARGV[1]: the op (JSON); ARGV[2]: how long
-- to keep a shard (ms; 0: for ever, it holds a budget). Returns the reply
-- as JSON. Per scope `<key>:<scope>` (a hash):
--   R, T    requests and tokens in the window; o, n: its oldest and
--           newest second; q<sec>, t<sec>: each second's requests, tokens
--   spent   USD settled in period p; r: USD held by reservations
-- and its reservations: `<key>:<scope>:z` (a sorted set of ids by expiry)
-- and `<key>:<scope>:l` (id → [expires_ms, tokens, cost, second]).
-- Per shard `<key>:h`: the history, `<m|q><bucket>` → "requests tokens
-- USD", and `at`, the minute it was last pruned in. Every call from Lua
-- costs a few microseconds of Redis's one thread, so there are few.
local op = cjson.decode(ARGV[1])
local keep = tonumber(ARGV[2] or '0') or 0
local WINDOW = 60
local now = op.now_ms
local now_s = math.floor(now / 1000)

local keys, n = {}, 0
for _, s in ipairs(op.scopes) do
  if keys[s.shard] == nil then
    n = n + 1
    keys[s.shard] = KEYS[n]
  end
end

local function skey(s) return keys[s.shard] .. ':' .. s.name end
local function zkey(s) return skey(s) .. ':z' end
local function lkey(s) return skey(s) .. ':l' end
local function num(v) return tonumber(v) or 0 end

-- Loads a scope's scalars.
local states = {}
local function scope(s)
  local k = skey(s)
  local st = states[k]
  if st then return st end
  local v = redis.call('HMGET', k, 'R', 'T', 'o', 'n', 'spent', 'p', 'r')
  st = {R = num(v[1]), T = num(v[2]), o = tonumber(v[3]), n = tonumber(v[4]),
    spent = num(v[5]), p = v[6] or '', r = num(v[7]), key = k, dirty = false}
  states[k] = st
  return st
end

local function bucket(st, sec)
  local v = redis.call('HMGET', st.key, 'q' .. sec, 't' .. sec)
  if not v[1] and not v[2] then return nil end
  return {num(v[1]), num(v[2])}
end

local function set_bucket(st, sec, b)
  redis.call('HSET', st.key, 'q' .. sec, b[1], 't' .. sec, b[2])
end

-- Every second of the window, oldest first: {sec, {requests, tokens}}.
local function buckets(st)
  local all = redis.call('HGETALL', st.key)
  local by = {}
  for i = 1, #all, 2 do
    local f = all[i]
    local tag = string.sub(f, 1, 1)
    if (tag == 'q' or tag == 't') and tonumber(string.sub(f, 2)) then
      local sec = tonumber(string.sub(f, 2))
      by[sec] = by[sec] or {0, 0}
      by[sec][tag == 'q' and 1 or 2] = num(all[i + 1])
    end
  end
  local v = {}
  for sec, b in pairs(by) do v[#v + 1] = {sec, b} end
  table.sort(v, function(a, b) return a[1] < b[1] end)
  return v
end

local function lease(s, id)
  local raw = redis.call('HGET', lkey(s), id)
  if not raw then return nil end
  return cjson.decode(raw)
end

local function drop_lease(s, id)
  redis.call('ZREM', zkey(s), id)
  redis.call('HDEL', lkey(s), id)
end

local function count(s)
  return redis.call('ZCARD', zkey(s))
end

local function prune(st, s)
  if st.o ~= nil and st.o + WINDOW <= now_s then
    st.R, st.T, st.o, st.n = 0, 0, nil, nil
    for _, e in ipairs(buckets(st)) do
      if e[1] + WINDOW <= now_s then
        redis.call('HDEL', st.key, 'q' .. e[1], 't' .. e[1])
      else
        st.R = st.R + e[2][1]
        st.T = st.T + e[2][2]
        if st.o == nil then st.o = e[1] end
        st.n = e[1]
      end
    end
    st.dirty = true
  end
  local lapsed = redis.call('ZRANGEBYSCORE', zkey(s), '-inf', now)
  for _, id in ipairs(lapsed) do
    local l = lease(s, id)
    if l ~= nil then
      st.spent = st.spent + l[3]
      st.r = st.r - l[3]
    end
    drop_lease(s, id)
    st.dirty = true
  end
  if s.period ~= nil and s.period ~= '' and st.p ~= s.period then
    st.p = s.period
    st.spent = 0
    st.dirty = true
  end
end

local function wait(st, idx, u, need, limit)
  local left = u
  for _, e in ipairs(buckets(st)) do
    left = math.max(left - e[2][idx], 0)
    if left + need <= limit then
      return math.max((e[1] + WINDOW) * 1000 - now, 1)
    end
  end
  return 1000
end

local function status(st, c)
  local reset = 0
  if st.n ~= nil then reset = math.max((st.n + WINDOW) * 1000 - now, 0) end
  return {requests = st.R, tokens = st.T, concurrent = c,
    reset_requests_ms = reset, reset_tokens_ms = reset,
    spent = st.spent, reserved = math.max(st.r, 0)}
end

local function check(st, s)
  local function refuse(kind, limit, need, retry)
    local r = {shard = s.shard, name = s.name, kind = kind, limit = limit, need = need,
      retry_after_ms = retry}
    if kind == 'budget' then
      r.spent = st.spent
      r.held = math.max(st.r, 0)
    end
    return r
  end
  local tokens = s.tokens or 0
  local cost = s.cost or 0
  local is_reserve = op.op == 'reserve'
  if is_reserve and s.rpm ~= nil and st.R + 1 > s.rpm then
    return refuse('requests', s.rpm, 1, wait(st, 1, st.R, 1, s.rpm))
  end
  if s.tpm ~= nil then
    if tokens > s.tpm then return refuse('tokens', s.tpm, tokens, nil) end
    if st.T + tokens > s.tpm then
      return refuse('tokens', s.tpm, tokens, wait(st, 2, st.T, tokens, s.tpm))
    end
  end
  if is_reserve and s.concurrent ~= nil and count(s) + 1 > s.concurrent then
    return refuse('concurrent', s.concurrent, 1, 1000)
  end
  if s.budget ~= nil then
    local reserved = math.max(st.r, 0)
    if cost > s.budget then return refuse('budget', s.budget, cost, nil) end
    if st.spent + reserved + cost > s.budget then
      local retry = nil
      if st.spent + cost <= s.budget then
        retry = 1000
      elseif (s.period_end_ms or 0) > 0 then
        retry = math.max(s.period_end_ms - now, 1)
      end
      return refuse('budget', s.budget, cost, retry)
    end
  end
  return nil
end

-- Writes the scalars of every scope that changed. Runs on every path,
-- a refusal's included: a lease that lapsed was removed by `prune`, and
-- its charge must land with it.
local function flush()
  for k, st in pairs(states) do
    if st.dirty then
      redis.call('HSET', k, 'R', st.R, 'T', st.T, 'spent', st.spent, 'p', st.p, 'r', st.r)
      if st.o ~= nil then
        redis.call('HSET', k, 'o', st.o, 'n', st.n)
      else
        redis.call('HDEL', k, 'o', 'n')
      end
    end
    if keep > 0 then redis.call('PEXPIRE', k, keep) else redis.call('PERSIST', k) end
  end
end

for _, s in ipairs(op.scopes) do prune(scope(s), s) end

if op.op == 'reserve' or op.op == 'extend' then
  for _, s in ipairs(op.scopes) do
    local refused = check(scope(s), s)
    if refused ~= nil then
      flush()
      return cjson.encode({ok = false, refused = refused, scopes = {}})
    end
  end
end

-- The shard's history (minutes for an hour, quarter hours for a day),
-- once per shard, before the leases change.
local HISTORY = {{'m', 60000, 60}, {'q', 900000, 96}}
local function record(shard, add)
  local h = keys[shard] .. ':h'
  local minute = math.floor(now / 60000)
  local fm = 'm' .. tostring(minute)
  local fq = 'q' .. tostring(math.floor(now / 900000))
  local v = redis.call('HMGET', h, 'at', fm, fq)
  if num(v[1]) ~= minute then
    for _, f in ipairs(redis.call('HKEYS', h)) do
      for _, spec in ipairs(HISTORY) do
        if string.sub(f, 1, 1) == spec[1] then
          local b = tonumber(string.sub(f, 2))
          if b == nil or b + spec[3] <= math.floor(now / spec[2]) then
            redis.call('HDEL', h, f)
          end
        end
      end
    end
  end
  local function added(raw)
    local x = {0, 0, 0}
    if raw then
      local i = 1
      for w in string.gmatch(raw, '%S+') do x[i] = num(w); i = i + 1 end
    end
    for i = 1, 3 do x[i] = x[i] + add[i] end
    return string.format('%.17g %.17g %.17g', x[1], x[2], x[3])
  end
  redis.call('HSET', h, 'at', minute, fm, added(v[2]), fq, added(v[3]))
  if keep > 0 then redis.call('PEXPIRE', h, keep) else redis.call('PERSIST', h) end
end

local function history_of(shard)
  local all = redis.call('HGETALL', keys[shard] .. ':h')
  local out = {}
  for i = 1, #all, 2 do
    if all[i] ~= 'at' then
      local x, j = {0, 0, 0}, 1
      for w in string.gmatch(all[i + 1], '%S+') do x[j] = num(w); j = j + 1 end
      out[all[i]] = x
    end
  end
  return out
end

-- Each scope's reservation under this id, read once.
local leases = {}
if op.op ~= 'peek' then
  for i, s in ipairs(op.scopes) do leases[i] = lease(s, op.id) or false end
end

local history, seen = {}, {}
for i, s in ipairs(op.scopes) do
  if not seen[s.shard] then
    seen[s.shard] = true
    local held = leases[i] ~= nil and leases[i] ~= false
    local add = nil
    if op.op == 'reserve' then add = {1, 0, 0}
    elseif op.op == 'cancel' and held then add = {-1, 0, 0}
    elseif op.op == 'settle' and held then add = {0, s.tokens or 0, s.cost or 0}
    elseif op.op == 'peek' then add = {0, 0, 0} end
    if add ~= nil then record(s.shard, add) end
    if op.op == 'peek' then history[s.shard] = history_of(s.shard) end
  end
end

local out = {}
for i, s in ipairs(op.scopes) do
  local st = scope(s)
  local held = leases[i] or nil
  local tokens = s.tokens or 0
  local cost = s.cost or 0
  if op.op == 'reserve' then
    local b = bucket(st, now_s) or {0, 0}
    set_bucket(st, now_s, {b[1] + 1, b[2] + tokens})
    st.R = st.R + 1
    st.T = st.T + tokens
    if st.o == nil or now_s < st.o then st.o = now_s end
    if st.n == nil or now_s > st.n then st.n = now_s end
    if held ~= nil then st.r = st.r - held[3] end
    redis.call('ZADD', zkey(s), now + op.lease_ms, op.id)
    redis.call('HSET', lkey(s), op.id, cjson.encode({now + op.lease_ms, tokens, cost, now_s}))
    -- Gone with the last lease, or a minute after it lapses.
    redis.call('PEXPIRE', zkey(s), op.lease_ms + 60000)
    redis.call('PEXPIRE', lkey(s), op.lease_ms + 60000)
    st.r = st.r + cost
    st.dirty = true
  elseif op.op == 'extend' then
    local l = held
    if l ~= nil then
      l[1] = now + op.lease_ms
      l[2] = l[2] + tokens
      l[3] = l[3] + cost
      st.r = st.r + cost
      redis.call('ZADD', zkey(s), l[1], op.id)
      redis.call('HSET', lkey(s), op.id, cjson.encode(l))
      local b = bucket(st, l[4])
      if b ~= nil then
        set_bucket(st, l[4], {b[1], b[2] + tokens})
        st.T = st.T + tokens
      end
      st.dirty = true
    end
  elseif op.op == 'settle' or op.op == 'cancel' then
    local l = held
    if l ~= nil then
      drop_lease(s, op.id)
      st.r = st.r - l[3]
      local b = bucket(st, l[4])
      if b ~= nil then
        local nb
        if op.op == 'settle' then
          nb = {b[1], math.max(b[2] - l[2], 0) + tokens}
        else
          nb = {math.max(b[1] - 1, 0), math.max(b[2] - l[2], 0)}
        end
        set_bucket(st, l[4], nb)
        st.R = st.R + nb[1] - b[1]
        st.T = st.T + nb[2] - b[2]
      end
      if op.op == 'settle' then st.spent = st.spent + cost end
      st.dirty = true
    end
  end
  -- Sums of floating point amounts drift; none is held: exactly 0.
  local c = count(s)
  if c == 0 and st.r ~= 0 then
    st.r = 0
    st.dirty = true
  end
  out[#out + 1] = status(st, c)
end

flush()

if op.op == 'peek' then
  return cjson.encode({ok = true, scopes = out, history = history})
end
return cjson.encode({ok = true, scopes = out})
