dofile(os.getenv("BENCH_DIR") .. "/wrk/tokens.lua")
request = function()
  local t = take()
  return wrk.format("GET", "/identity/v2/auth/access_token/validate?apikey=" .. os.getenv("KEY") .. "&access_token=" .. t.access)
end
