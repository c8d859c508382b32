--[[
  Sets each field of a hash to the given number unless it holds a greater one already (FINAL_THROUGH:
  a run that overlapped a later one must not record less than it did).

    KEYS[1] the hash
    ARGV    pairs: field, number
]]
for j = 1, #ARGV, 2 do
  local current = tonumber(redis.call("HGET", KEYS[1], ARGV[j]) or "")
  if current == nil or tonumber(ARGV[j + 1]) > current then
    redis.call("HSET", KEYS[1], ARGV[j], ARGV[j + 1])
  end
end
return 0
