-- deregister.lua -- check the session, remove every key of the realm, drop it
-- from the counts and tell streams and waiting connects it is gone.
--
-- KEYS: 1 hr:realm:{name}  2 hr:ev:{name}  3 hr:att:{name}  4 hr:ans:{name}
--       5 hr:realms  6 hr:realmip  7 hr:byip  8 hr:realmtok
-- ARGV: 1 name  2 sid  3 channel hr:ch:{name}
-- Returns: 0 ok, 4 bad session.
-- Touches: deletes realm, ev, att, ans; removes name from hr:realms,
--          hr:realmip, hr:realmtok and "<ip>|<name>" from hr:byip;
--          publishes "D <sid>".

local name, sid, channel = ARGV[1], ARGV[2], ARGV[3]

if redis.call('HGET', KEYS[1], 'sid') ~= sid then return 4 end

end_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], name, sid, channel)
return 0
