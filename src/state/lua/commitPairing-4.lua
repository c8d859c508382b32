--[[
  Commits one flush:metrics pairing run of a shard's sessions, only if nothing it was computed
  from changed since it read them: the boundary it paired from ("done") is still the stored one
  (no other pairing run committed in between), and the shard still holds exactly the sign-ins
  and sign-outs it read up to the new boundary (none arrived behind it meanwhile; such a one
  would otherwise be left to a later run and paired out of order into a final hour). Else
  nothing changes, and the next run pairs everything again from the same place.
  Every key is in the shard's hash tag {p<N>}.

    KEYS[1] sign-ins          {p<N>}:sess:in    sorted set "<time>|<user_id>" scored by time
    KEYS[2] sign-outs         {p<N>}:sess:out
    KEYS[3] open sessions     {p<N>}:sess:open  user_id → sign-in time
    KEYS[4] session totals    {p<N>}:sess:acc   "done", <hour>:count|sum|orphans, active:<hour>

    ARGV[1] the boundary the run paired from ("" when none)
    ARGV[2] the new boundary (epoch ms): events at or before it are paired
    ARGV[3] sign-ins read up to it       ARGV[4] sign-outs read up to it
    ARGV[5] o: open sessions after the run   ARGV[6] d: total deltas   ARGV[7] a: active counts
    then o pairs user_id, time; d pairs field, increment; a pairs field, value

  Returns: 1 when committed, 0 when something changed (nothing done)
]]
if (redis.call("HGET", KEYS[4], "done") or "") ~= ARGV[1] then
  return 0
end
local wm = ARGV[2]
if redis.call("ZCOUNT", KEYS[1], "-inf", wm) ~= tonumber(ARGV[3]) or redis.call("ZCOUNT", KEYS[2], "-inf", wm) ~= tonumber(ARGV[4]) then
  return 0
end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", wm)
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", wm)
redis.call("DEL", KEYS[3])
local i = 8
local open, deltas, active = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
for j = i, i + 2 * open - 1, 2 do
  redis.call("HSET", KEYS[3], ARGV[j], ARGV[j + 1])
end
i = i + 2 * open
for j = i, i + 2 * deltas - 1, 2 do
  redis.call("HINCRBY", KEYS[4], ARGV[j], ARGV[j + 1])
end
i = i + 2 * deltas
for j = i, i + 2 * active - 1, 2 do
  redis.call("HSET", KEYS[4], ARGV[j], ARGV[j + 1])
end
redis.call("HSET", KEYS[4], "done", wm)
return 1
