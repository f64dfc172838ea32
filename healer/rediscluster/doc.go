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
// What it must never do: assign a slot that any node claims (two masters for one slot), or
// bootstrap while a pod does not answer; meet a node whose view gives slots to other nodes than
// the seed's cluster does, or lists nodes the seed does not know; make a master that holds
// slots or keys a replica; repoint a replica that may be the last copy of its master's slots
// (the master does not answer, is flagged fail or fail?, or has no other replica in sync:
// Redis Cluster promotes it, the healer waits); restart a half-migrated slot from scratch (its
// move is finished first, from the slot's current owner); hand a slot over while its source
// holds keys of it, or after the source says it is not the owner; forget or reset a node of a
// leaving shard that may still hold data; log or report the password (actions hold none, and
// every error text is redacted); block Track, Forget or Report on Redis.
//
// docs/redis-cluster-healer.md describes the rules for operators.
package rediscluster
