-- latticelm's limit ledger for Redis: ledger.rs's `apply`, line for line,
-- over the same JSON. KEYS: each shard's key, in the order the op's scopes
-- first name them. ARGV[1]: the op. Returns the reply as JSON.
local op = cjson.decode(ARGV[1])
local WINDOW = 60
local now = op.now_ms
local now_s = math.floor(now / 1000)

local ledgers, keys, n = {}, {}, 0
for _, s in ipairs(op.scopes) do
  if ledgers[s.shard] == nil then
    n = n + 1
    keys[s.shard] = KEYS[n]
    local raw = redis.call('GET', KEYS[n])
    local l = raw and cjson.decode(raw) or {}
    if type(l.s) ~= 'table' then l.s = {} end
    ledgers[s.shard] = l
  end
end

local function scope(s)
  local l = ledgers[s.shard]
  local st = l.s[s.name]
  if type(st) ~= 'table' then
    st = {}
    l.s[s.name] = st
  end
  if type(st.b) ~= 'table' then st.b = {} end
  if type(st.l) ~= 'table' then st.l = {} end
  if type(st.p) ~= 'string' then st.p = '' end
  if type(st.spent) ~= 'number' then st.spent = 0 end
  return st
end

local function prune(st, period)
  for k, _ in pairs(st.b) do
    local sec = tonumber(k)
    if sec == nil or sec + WINDOW <= now_s then st.b[k] = nil end
  end
  for id, l in pairs(st.l) do
    if l[1] <= now then
      st.spent = st.spent + l[3]
      st.l[id] = nil
    end
  end
  if period ~= nil and period ~= '' and st.p ~= period then
    st.p = period
    st.spent = 0
  end
end

local function used(st)
  local r, t = 0, 0
  for _, v in pairs(st.b) do r = r + v[1]; t = t + v[2] end
  return r, t
end

local function reserved(st)
  local c = 0
  for _, l in pairs(st.l) do c = c + l[3] end
  return c
end

local function count(t)
  local c = 0
  for _ in pairs(t) do c = c + 1 end
  return c
end

local function buckets(st)
  local v = {}
  for k, b in pairs(st.b) do
    local sec = tonumber(k)
    if sec ~= nil then v[#v + 1] = {sec, b} end
  end
  table.sort(v, function(a, b) return a[1] < b[1] end)
  return v
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

local function reset(st, idx)
  local m = 0
  for _, e in ipairs(buckets(st)) do
    if e[2][idx] > 0 then m = math.max(m, math.max((e[1] + WINDOW) * 1000 - now, 0)) end
  end
  return m
end

local function status(st)
  local r, t = used(st)
  return {requests = r, tokens = t, concurrent = count(st.l),
    reset_requests_ms = reset(st, 1), reset_tokens_ms = reset(st, 2),
    spent = st.spent, reserved = reserved(st)}
end

local function check(st, s)
  local ur, ut = used(st)
  local function refuse(kind, limit, need, retry)
    return {shard = s.shard, name = s.name, kind = kind, limit = limit, need = need,
      retry_after_ms = retry}
  end
  local tokens = s.tokens or 0
  local cost = s.cost or 0
  local is_reserve = op.op == 'reserve'
  if is_reserve and s.rpm ~= nil and ur + 1 > s.rpm then
    return refuse('requests', s.rpm, 1, wait(st, 1, ur, 1, s.rpm))
  end
  if s.tpm ~= nil then
    if tokens > s.tpm then return refuse('tokens', s.tpm, tokens, nil) end
    if ut + tokens > s.tpm then
      return refuse('tokens', s.tpm, tokens, wait(st, 2, ut, tokens, s.tpm))
    end
  end
  if is_reserve and s.concurrent ~= nil and count(st.l) + 1 > s.concurrent then
    return refuse('concurrent', s.concurrent, 1, 1000)
  end
  if s.budget ~= nil then
    if cost > s.budget then return refuse('budget', s.budget, cost, nil) end
    if st.spent + reserved(st) + cost > s.budget then
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

for _, s in ipairs(op.scopes) do prune(scope(s), s.period) end

if op.op == 'reserve' or op.op == 'extend' then
  for _, s in ipairs(op.scopes) do
    local refused = check(scope(s), s)
    if refused ~= nil then
      return cjson.encode({ok = false, refused = refused, scopes = {}})
    end
  end
end

-- The shard's history (minutes for an hour, quarter hours for a day),
-- once per shard, before the leases change.
local HISTORY = {{'m', 60000, 60}, {'q', 900000, 96}}
local function record(l, add)
  if type(l.h) ~= 'table' then l.h = {} end
  for _, h in ipairs(HISTORY) do
    local tag, span, keep = h[1], h[2], h[3]
    local at = math.floor(now / span)
    for k, _ in pairs(l.h) do
      if string.sub(k, 1, 1) == tag then
        local b = tonumber(string.sub(k, 2))
        if b == nil or b + keep <= at then l.h[k] = nil end
      end
    end
    local key = tag .. tostring(at)
    local b = l.h[key] or {0, 0, 0}
    b[1] = b[1] + add[1]
    b[2] = b[2] + add[2]
    b[3] = b[3] + add[3]
    l.h[key] = b
  end
end

local history, seen = {}, {}
for _, s in ipairs(op.scopes) do
  if not seen[s.shard] then
    seen[s.shard] = true
    local l = ledgers[s.shard]
    local st = scope(s)
    local held = st.l[op.id] ~= nil
    local add = nil
    if op.op == 'reserve' then add = {1, 0, 0}
    elseif op.op == 'cancel' and held then add = {-1, 0, 0}
    elseif op.op == 'settle' and held then add = {0, s.tokens or 0, s.cost or 0}
    elseif op.op == 'peek' then add = {0, 0, 0} end
    if add ~= nil then record(l, add) end
    if op.op == 'peek' then history[s.shard] = l.h end
  end
end

local out = {}
for _, s in ipairs(op.scopes) do
  local st = scope(s)
  local tokens = s.tokens or 0
  local cost = s.cost or 0
  if op.op == 'reserve' then
    local key = tostring(now_s)
    local b = st.b[key] or {0, 0}
    b[1] = b[1] + 1
    b[2] = b[2] + tokens
    st.b[key] = b
    st.l[op.id] = {now + op.lease_ms, tokens, cost, now_s}
  elseif op.op == 'extend' then
    local l = st.l[op.id]
    if l ~= nil then
      l[1] = now + op.lease_ms
      l[2] = l[2] + tokens
      l[3] = l[3] + cost
      local b = st.b[tostring(l[4])]
      if b ~= nil then b[2] = b[2] + tokens end
    end
  elseif op.op == 'settle' then
    local l = st.l[op.id]
    if l ~= nil then
      st.l[op.id] = nil
      local b = st.b[tostring(l[4])]
      if b ~= nil then b[2] = math.max(b[2] - l[2], 0) + tokens end
      st.spent = st.spent + cost
    end
  elseif op.op == 'cancel' then
    local l = st.l[op.id]
    if l ~= nil then
      st.l[op.id] = nil
      local b = st.b[tostring(l[4])]
      if b ~= nil then
        b[1] = math.max(b[1] - 1, 0)
        b[2] = math.max(b[2] - l[2], 0)
      end
    end
  end
  out[#out + 1] = status(st)
end

if op.op ~= 'peek' then
  local keep = tonumber(ARGV[2] or '0') or 0
  for shard, l in pairs(ledgers) do
    if keep > 0 then
      redis.call('SET', keys[shard], cjson.encode(l), 'PX', keep)
    else
      redis.call('SET', keys[shard], cjson.encode(l))
    end
  end
end

if op.op == 'peek' then
  return cjson.encode({ok = true, scopes = out, history = history})
end
return cjson.encode({ok = true, scopes = out})
