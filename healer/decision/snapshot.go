package decision

import (
	"time"

	"github.com/redhook/redhook/hooks"
)

// Snapshot is the healer's raw view of one RedisFailover: what every redis and sentinel pod of
// the topology answered, in topology order, read at Time. The healer's observe builds it; Plan
// and Report read it. It is the raw read; hooks.HealerReport, made from it by Report, is what
// the healer tells the sync hook.
type Snapshot struct {
	// Time is when the reads started.
	Time      time.Time
	Redis     []RedisNode
	Sentinels []SentinelNode
}

// RedisNode is one redis pod and what it answered.
type RedisNode struct {
	Pod hooks.PodRef
	// Err tells why the node could not be read; empty when it answered.
	Err string
	// Refused: the node's host refused the connection: no process listens on the port, so none
	// accepts writes there (a partition drops packets, it does not refuse them).
	Refused bool
	Info    RedisInfo
	Role    Role
	// Config holds the CONFIG GET values of the keys the topology manages; nil when unknown.
	Config map[string]string
	// ConfigErr tells why CONFIG GET failed (a renamed CONFIG command, say): the node still
	// takes part in replication decisions, its settings are left alone.
	ConfigErr string
	// Clients are the node's normal clients (CLIENT LIST TYPE normal), listed only for a replica
	// that refused writes since the healer last read it (Info.RefusedWrites grew); nil otherwise.
	Clients []Client
}

// Client is one client connection of a redis node, as CLIENT LIST shows it.
type Client struct {
	ID int64
	// Cmd is the last command the client sent ("set", "client|list"), even one refused.
	Cmd string
	// Write: Cmd is a write command of this server (COMMAND LIST FILTERBY ACLCAT write).
	Write bool
}

// Reachable tells whether the node answered.
func (n *RedisNode) Reachable() bool { return n.Err == "" }

// SentinelNode is one sentinel pod and what it answered.
type SentinelNode struct {
	Pod hooks.PodRef
	// Err tells why the sentinel could not be read; empty when it answered.
	Err  string
	Info SentinelInfo
	// Master is this sentinel's view of the master name; nil when it monitors no such name.
	Master *SentinelMaster
	// Replicas and Sentinels are what it knows of the master's replicas and of other sentinels.
	Replicas  []SentinelPeer
	Sentinels []SentinelPeer
	// Debug is this sentinel's timing parameters in milliseconds (SENTINEL DEBUG: INFO-PERIOD,
	// PING-PERIOD…); nil when unknown.
	Debug map[string]int64
	// Vote is this sentinel's own latest vote for a failover leader, read while its master is
	// failing over; nil when not read.
	Vote *SentinelVote
}

// SentinelVote is a sentinel's vote for a failover leader: the leader's run id ("" for none)
// and the epoch of the vote. SENTINEL IS-MASTER-DOWN-BY-ADDR asked with epoch 0 and a run id
// returns it and casts none (Sentinel votes only in an epoch newer than its last vote and not
// older than its current epoch).
type SentinelVote struct {
	Leader string
	Epoch  int64
}

// Reachable tells whether the sentinel answered.
func (n *SentinelNode) Reachable() bool { return n.Err == "" }

// ConfigKeys are the redis settings the healer reads with CONFIG GET and keeps as desired:
// those of customConfig that CONFIG SET can change and that are no secret (options.go).
func ConfigKeys(t hooks.Topology) []string {
	keys := make([]string, 0, len(t.RedisConfig)+len(t.ModeConfig)+1)
	seen := map[string]bool{}
	for _, e := range append(append([]hooks.ConfigEntry(nil), t.RedisConfig...), t.ModeConfig...) {
		if !seen[e.Key] && live(e.Key) {
			seen[e.Key] = true
			keys = append(keys, e.Key)
		}
	}
	// Always read: bootstrap mode pins it to 0, and the healer steers Sentinel's choice of the
	// replica to promote with it (priorities.go).
	if !seen[ReplicaPriorityKey] {
		keys = append(keys, ReplicaPriorityKey)
	}
	return keys
}

const ReplicaPriorityKey = "replica-priority"
