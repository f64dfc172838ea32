// Package rediscluster is the healer of sharded Redis (Redis Cluster mode, issue 14): it forms
// the cluster out of the pods of one StatefulSet per shard, keeps every shard a master and its
// replicas, moves slots on scale-out and scale-in, repairs what Redis Cluster's own failover
// leaves behind, and reports what it sees.
//
// As package healer does for Sentinel, it is a pipeline per cluster:
//
//	observe   (reads, every pod at once: CLUSTER MYID, CLUSTER NODES, CLUSTER INFO,
//	           INFO replication, DBSIZE)
//	  → Parse*  (pure: replies → Snapshot)
//	  → Plan    (pure: Topology + Snapshot → []Action, each with its reason)
//	  → apply   (writes: CLUSTER MEET, ADDSLOTSRANGE, REPLICATE, FORGET, RESET SOFT, FAILOVER;
//	             migrate.go: SETSLOT IMPORTING/MIGRATING/NODE, GETKEYSINSLOT, MIGRATE)
//	  → BuildReport (pure: Snapshot → Report)
//
// The pure part (topology.go, parse.go, snapshot.go, plan.go, actions.go, report.go) does no
// I/O, reads no clock and logs nothing: the rules are table tests (plan_test.go). The I/O part
// (conns.go, observe.go, apply.go, migrate.go, healer.go) is tested against real redis-server
// processes in cluster mode on loopback (redistest.Sharded; *_integration_test.go).
//
// The shard of a pod is given by the topology (its StatefulSet), never guessed from Redis:
// shard k's master is the pod of shard k that owns slots, and every other pod of shard k is
// made its replica. Shards with an index of NumberOfMaster or more are leaving: their slots
// move to the others, then every active node forgets them.
//
// What it must never do: assign a slot that any node claims (two masters for one slot); make a
// node that holds slots or keys a replica; point the replicas of a master that owns slots but
// does not answer at another node (Redis Cluster promotes one of them: the healer waits);
// restart a half-migrated slot from scratch (its move is finished first, the keys already moved
// stay where they are); forget a node that owns slots, or one whose pod keeps its address and
// may come back with its nodes.conf; log or report the password (actions hold none: apply reads
// it from the topology for AUTH and MIGRATE's AUTH2); block Track, Forget or Report on Redis.
//
// docs/redis-cluster-healer.md describes the rules for operators.
package rediscluster
