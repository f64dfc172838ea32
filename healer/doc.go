// Package healer converges the Redis and Sentinel processes of every RedisFailover that the
// sync hook tracks, and reports what it sees for the next sync.
//
// It owns all Redis and Sentinel I/O of redhook, as a pipeline per RedisFailover:
//
//	observe            (reads: ROLE, INFO, CONFIG GET, INFO sentinel,
//	                    SENTINEL DEBUG/MASTER/REPLICAS/SENTINELS)
//	  → decision.Parse*  (pure: replies → values, one decision.Snapshot per pass)
//	  → decision.Plan    (pure: hooks.Topology + Snapshot → []decision.Action, rules 1–15)
//	  → apply            (writes: REPLICAOF, CONFIG SET,
//	                    SENTINEL MONITOR/REMOVE/SET/RESET/FAILOVER/DEBUG)
//	  → decision.Report  (pure: Snapshot → hooks.HealerReport, the input of the next hooks.Sync)
//
// The pure steps live in package decision, which may import only the standard library and
// hooks (a test there checks it): no I/O, clock, randomness or logging. The rules are the
// "Healer rules" of docs/architecture.md; docs/healer.md describes them for operators. This package
// is the edge around it: connections, reads, writes, scheduling, logs and metrics.
//
// Pool runs that pipeline: Track never blocks and keeps the newest topology per RedisFailover;
// a bounded set of workers runs at most one pass per RedisFailover at a time, again after an
// interval (sooner while unsettled, with exponential backoff after errors) and at once on a
// topology change, a Sentinel event (+switch-master, +sdown, +odown, -odown, +failover-end…) or
// a word of the master watcher (watch.go: ROLE to the reported master every 200 ms; a dead,
// demoted or restarted master asks for a pass at once, so rule 11 does not wait for Interval).
//
// Writes confirmed by WAIT 1 survive a failover that Sentinel carries out: every sentinel reads
// the replicas' INFO every second, pings every 250 ms and forgets its peers' "down" answers
// after 1.25 s (rule 12: SENTINEL DEBUG, not persisted by Sentinel, so set again after a
// restart; the last two stop Sentinel from failing over a healthy master right after a switch
// when down-after is 1 s); once the master is gone, the replica with the highest offset gets
// replica-priority 1 and the others the normal one (rule 13), and the normal priority comes
// back once a master is healthy; rule 11 sends SENTINEL FAILOVER only once the sentinel's own
// order (priority, offset, run id, on what it last read) picks that replica, and waits for the
// next pass otherwise. Why each of these, with measurements: decision's timing.go and
// priorities.go.
//
// A RedisFailover not tracked for a while is forgotten and its connections are closed. There is
// one reusable rueidis client per address and a deadline on every command. Pods are dialled in
// parallel, and a failed dial is remembered for min(1 s, MinBackoff) (conns.go): a pod that
// does not answer costs one dial timeout to its own reads, once per pass.
//
// Files, by concern: config.go (Config), pool.go (Pool, Track, Report), schedule.go (Run and
// when each pass is due), pass.go (one heal pass), conns.go, observe.go, apply.go (the one
// switch over the action types: requestOf), subscribe.go (Sentinel events), watch.go and
// resp.go (the master watcher and its plain RESP connection), metrics.go.
//
// What the healer must never do:
//   - act while Sentinel fails over (rule 1), or fight an agreement of the sentinels on a pod
//     that answers as master;
//   - follow, or point anything at, an address that is not a pod of the same RedisFailover
//     (pod IPs are reused), except the external node of bootstrap mode;
//   - promote a node that holds less data than a reachable replica, or keep an empty restarted
//     node as master while a replica holds the data (boot as a replica, rule 11);
//   - reset more than one sentinel at a time, or reset while any sentinel is still rediscovering;
//   - write a setting that already has the desired value, write an option given on several
//     customConfig lines one line at a time (Redis merges them: decision's options.go), CONFIG
//     SET an option Redis cannot change live, or send again every pass a CONFIG SET that the
//     pod refused (decision.HoldRefused: the refusal stays in the report's errors instead);
//   - set replica-priority 0 (never promote) outside bootstrap mode or the topology's own
//     value, or change the priority of a node pinned to 0;
//   - log, report or put in a metric label the password: actions carry no secret, apply reads
//     it from the topology when it sends AUTH or auth-pass;
//   - block the hook: Track and Report only touch memory.
//
// The decisions are table-tested in package decision; the I/O here is tested against real
// redis-server and redis-sentinel processes on loopback.
package healer
