dofile(os.getenv("BENCH_DIR") .. "/wrk/tokens.lua")
request = function()
  local t = take()
  return wrk.format("GET", "/identity/v2/auth/session_token/invalidate?apikey=" .. os.getenv("KEY") .. "&session_token=" .. t.session)
end
