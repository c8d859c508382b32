--[[
  Makes windows final in one shard and takes their counts in the same atomic step: a
  registration applied before it is in the counts; one applied after it was judged against the
  raised final-through (the state step checks), so it is late for these windows, and although it
  still moves its user in the sorted set (ZADD LT, for the open windows), the counts taken here
  are what the final rows say, also when a run that failed or overlapped another counts again.
  Never lowers a final-through.

    KEYS[1] registrations   {p<N>}:reg           user_id scored by earliest registration time
    KEYS[2] final through   {p<N>}:final         "<window_type>=<end>;…" in type order
    KEYS[3] final counts    {p<N>}:finalcounts   "<window_type>:<start>" → count when it became final
    ARGV    quadruples: window_type, size (ms), advance (ms), the final-through to reach (ms)

  Returns the stored final-through text.
]]
local fmt = function(x) return string.format("%.0f", x) end
local stored = redis.call("GET", KEYS[2]) or ""
local through = {}
for part in string.gmatch(stored, "[^;]+") do
  local t, e = string.match(part, "^(.+)=(%-?%d+)$")
  if t then
    through[t] = tonumber(e)
  end
end
for j = 1, #ARGV, 4 do
  local wtype, size, adv, target = ARGV[j], tonumber(ARGV[j + 1]), tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3])
  local cur = through[wtype]
  if cur == nil or target > cur then
    -- Windows ending in (cur, target] hold times in [cur - size + adv, target): one lookup per
    -- occupied bucket of that span, as occupiedBuckets-1.lua does.
    local cursor
    if cur == nil then
      local first = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
      cursor = #first == 2 and math.floor(tonumber(first[2]) / adv) * adv or target
    else
      cursor = cur - size + adv
    end
    local done = {}
    while cursor < target do
      local hit = redis.call("ZRANGEBYSCORE", KEYS[1], fmt(cursor), "(" .. fmt(target), "WITHSCORES", "LIMIT", 0, 1)
      if #hit == 0 then break end
      local bucket = math.floor(tonumber(hit[2]) / adv) * adv
      for s = bucket - size + adv, bucket, adv do
        local e = s + size
        if (cur == nil or e > cur) and e <= target and not done[s] then
          done[s] = true
          redis.call("HSETNX", KEYS[3], wtype .. ":" .. fmt(s), redis.call("ZCOUNT", KEYS[1], fmt(s), "(" .. fmt(e)))
        end
      end
      cursor = bucket + adv
    end
    through[wtype] = target
  end
end
local types = {}
for t in pairs(through) do
  types[#types + 1] = t
end
table.sort(types)
local parts = {}
for _, t in ipairs(types) do
  parts[#parts + 1] = t .. "=" .. fmt(through[t])
end
local text = table.concat(parts, ";")
if text ~= stored then
  redis.call("SET", KEYS[2], text)
end
return text
