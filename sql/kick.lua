-- kick.lua -- the operator ends a realm's session (hysteria-realm-admin kick):
-- as a deregister, without the session id.
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}  3 hr:att:{name}  4 hr:ans:{name}
--       5 hr:realms  6 hr:realmip  7 hr:byip  8 hr:realmtok
-- ARGV: 1 name  2 channel hr:ch:{name}
-- Returns: 0 kicked, 5 realm not registered.
-- Touches: as deregister.lua; publishes "D <sid>".

local sid = redis.call('HGET', KEYS[1], 'sid')
if not sid then return 5 end

end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], ARGV[1], sid, ARGV[2])
return 0
