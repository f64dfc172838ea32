package rediscluster

import (
	"fmt"
	"time"
)

// NumSlots is the number of hash slots of a Redis Cluster.
const NumSlots = 16384

// Topology is what the healer is told of one sharded Redis (Redis Cluster mode): the pods and
// the shape the spec asks for. Each shard is one StatefulSet (pods rdc-<name>-<shard>-<ordinal>),
// so the shard of a node is given, never guessed from Redis.
type Topology struct {
	Namespace, Name string
	// Password is every node's requirepass and masterauth; "" when there is none. It is used to
	// authenticate and in MIGRATE's AUTH2, never logged or reported.
	Password string
	// NumberOfMaster is the number of shards wanted: shards 0..NumberOfMaster-1 hold the slots;
	// a shard with a higher index is leaving (scale-in): its slots are moved to the others, then
	// its nodes are forgotten.
	NumberOfMaster int
	// ReplicationFactor is the number of replicas per master (pods per shard minus one).
	ReplicationFactor int
	// NodeTimeout is the nodes' cluster-node-timeout (the Kubernetes side gives it in ms, as
	// the string of the config); 5 s when 0. A MIGRATE blocks its source: its timeout is kept
	// well under this (MigrateTimeout).
	NodeTimeout time.Duration
	Nodes       []Node
}

// DefaultNodeTimeout is Redis' default cluster-node-timeout.
const DefaultNodeTimeout = 5 * time.Second

// MigrateTimeout is MIGRATE's own timeout for this cluster: a quarter of the node timeout
// (a source blocked in MIGRATE answers no ping; the others flag it fail? after NodeTimeout),
// at most max when max > 0, and at least 100 ms.
func (t Topology) MigrateTimeout(max time.Duration) time.Duration {
	nt := t.NodeTimeout
	if nt <= 0 {
		nt = DefaultNodeTimeout
	}
	d := nt / 4
	if max > 0 && max < d {
		d = max
	}
	return maxDur(d, 100*time.Millisecond)
}

func maxDur(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// Node is one pod of the cluster.
type Node struct {
	Pod     string
	IP      string // "" while the pod has none
	Port    int    // 6379 when 0
	Shard   int
	Ordinal int
	// Ready is the pod's readiness, for the caller's bookkeeping: the planner goes by whether
	// the pod answers, not by it (a cluster-mode readiness probe depends on the cluster the
	// healer is forming).
	Ready bool
	// Terminating: the pod is being deleted; nothing is MEETed to it or made to replicate.
	Terminating bool
	// Updated: the pod runs the current pod template (rollout). When a shard's master pod is not
	// updated and one of its in-sync replicas is, the planner issues Failover on that replica,
	// one shard at a time. The zero value (false everywhere) never triggers a failover.
	Updated bool
}

// Key is namespace/name.
func (t Topology) Key() string { return t.Namespace + "/" + t.Name }

// Addr is ip:port of the node.
func (n Node) Addr() string { return fmt.Sprintf("%s:%d", n.IP, n.port()) }

func (n Node) port() int {
	if n.Port == 0 {
		return 6379
	}
	return n.Port
}

// Leaving tells whether shard s is being removed (scale-in).
func (t Topology) Leaving(s int) bool { return s >= t.NumberOfMaster }
