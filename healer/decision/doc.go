// Package decision is what the healer decides, apart from how it talks to Redis: it turns
// replies into values, a topology and a Snapshot into the writes that converge them, and a
// Snapshot into the report that the next hooks.Sync reads.
//
// It owns:
//   - the parsers (ParseRedisInfo, ParseRole, ParseSentinelInfo, ParseSentinelMaster,
//     ParseSentinelPeers, ParseSentinelDebug, ParseConfigGet, ParseInfo): replies, as a RESP
//     decoder gives them, into values; tested on replies captured from Redis 7.0 in testdata/;
//   - Snapshot: what every redis and sentinel pod of one RedisFailover answered in one pass, and
//     ConfigKeys, the settings to read for a topology;
//   - Plan: hooks.Topology + Snapshot → []Action, the healer rules 1 to 15 ("Healer rules" in
//     docs/architecture.md, summed up in docs/healer.md), with the election (plan.go), Sentinel's
//     timings (rule 12, timing.go) and the replica priorities that steer Sentinel's choice
//     (rule 13, priorities.go);
//   - the Actions: small values that say what to write and why, and hold no secret;
//   - the comparison of a setting read back from Redis with the desired one (config.go), and
//     how redis.conf merges an option given on several lines and which options CONFIG SET
//     cannot change (options.go, a table found on redis-server 7.0.15);
//   - HoldRefused: a CONFIG SET a pod refused is not sent again every pass, and the report says
//     so (refusals.go);
//   - Report: Snapshot → hooks.HealerReport.
//
// What it must never do: I/O of any kind (network, files, environment), read the clock (the
// Snapshot carries the time of its reads), use randomness, or log. Same input, same output:
// that is what lets every rule be a table test, and a reason in a log be replayed. The healer
// package around it does the reading, the writing, the scheduling and the logging.
// imports_test.go checks the boundary: the non-test files import only the standard library and
// hooks, and no standard package that does I/O, randomness or logging, nor call time.Now.
package decision
