--[[
  Raises a shard's final-through to at least the given ends, never lowering one (two flush:metrics
  runs may overlap: a stalled one must not move finality back under the stream's feet).

    KEYS[1] {p<N>}:final   "<window_type>=<end>;…" in type order (formatFinalThrough)
    ARGV    pairs: window_type, end (epoch ms)

  Returns the stored text.
]]
local stored = redis.call("GET", KEYS[1]) or ""
local through = {}
for part in string.gmatch(stored, "[^;]+") do
  local t, e = string.match(part, "^(.+)=(%-?%d+)$")
  if t then
    through[t] = tonumber(e)
  end
end
for j = 1, #ARGV, 2 do
  local e = tonumber(ARGV[j + 1])
  if through[ARGV[j]] == nil or e > through[ARGV[j]] then
    through[ARGV[j]] = e
  end
end
local types = {}
for t in pairs(through) do
  types[#types + 1] = t
end
table.sort(types)
local parts = {}
for _, t in ipairs(types) do
  parts[#parts + 1] = t .. "=" .. string.format("%.0f", through[t])
end
local text = table.concat(parts, ";")
if text ~= stored then
  redis.call("SET", KEYS[1], text)
end
return text
