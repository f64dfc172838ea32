package decision

import (
	"fmt"
	"strings"

	"github.com/redhook/redhook/hooks"
)

// Action is one write the healer decided on: a small value with a String for logs and reports
// and the Reason it was decided. Actions hold no secret: the healer reads the password from the
// topology when it sends it.
//
// The redis actions are ReplicaOf, Promote, ConfigSet and ReplicaPriority; the sentinel ones
// are named Sentinel* after their command; Wait writes nothing. String and Kind reach logs,
// statuses and metric labels: their words do not follow the Go names and must not change.
type Action interface {
	// String is what the action does, e.g. "replicaof rfr-a-1 10.0.0.3:6379".
	String() string
	// Reason is why, e.g. "booted as a replica of the placeholder 127.0.0.1:1".
	Reason() string
	// Kind names the action type for metrics: replicaof, promote, sentinel-monitor…
	Kind() string
}

// ReplicaOf makes Pod replicate Master (REPLICAOF host port).
type ReplicaOf struct {
	Pod string
	// MasterPod is the master's pod name; empty for an external bootstrap node.
	MasterPod string
	Master    hooks.Endpoint
	Why       string
}

func (a ReplicaOf) String() string {
	if a.MasterPod == "" {
		return fmt.Sprintf("replicaof %s %s", a.Pod, a.Master.Address())
	}
	return fmt.Sprintf("replicaof %s %s (%s)", a.Pod, a.Master.Address(), a.MasterPod)
}
func (a ReplicaOf) Reason() string { return a.Why }
func (a ReplicaOf) Kind() string   { return "replicaof" }

// Promote makes Pod a master (REPLICAOF NO ONE).
type Promote struct {
	Pod string
	Why string
}

func (a Promote) String() string { return "promote " + a.Pod }
func (a Promote) Reason() string { return a.Why }
func (a Promote) Kind() string   { return "promote" }

// ConfigSet changes one redis setting at run time (CONFIG SET key value).
type ConfigSet struct {
	Pod   string
	Key   string
	Value string
	Why   string
}

func (a ConfigSet) String() string { return fmt.Sprintf("config set %s %s %q", a.Pod, a.Key, a.Value) }
func (a ConfigSet) Reason() string { return a.Why }
func (a ConfigSet) Kind() string   { return "config-set" }

// ReplicaPriority sets a redis node's replica-priority (CONFIG SET replica-priority): how
// Sentinel ranks it when it picks a replica to promote (rule 13).
type ReplicaPriority struct {
	Pod   string
	Value string
	Why   string
}

func (a ReplicaPriority) String() string {
	return fmt.Sprintf("replica-priority %s %s", a.Pod, a.Value)
}
func (a ReplicaPriority) Reason() string { return a.Why }
func (a ReplicaPriority) Kind() string   { return "replica-priority" }

// SentinelRemove makes Sentinel forget the master name (SENTINEL REMOVE).
type SentinelRemove struct {
	Sentinel string
	Why      string
}

func (a SentinelRemove) String() string { return "sentinel remove " + a.Sentinel }
func (a SentinelRemove) Reason() string { return a.Why }
func (a SentinelRemove) Kind() string   { return "sentinel-remove" }

// SentinelMonitor makes Sentinel monitor Master under the master name (SENTINEL MONITOR).
type SentinelMonitor struct {
	Sentinel string
	// MasterPod is the master's pod name; empty for an external bootstrap node.
	MasterPod string
	Master    hooks.Endpoint
	Quorum    int32
	Why       string
}

func (a SentinelMonitor) String() string {
	s := fmt.Sprintf("sentinel monitor %s %s quorum %d", a.Sentinel, a.Master.Address(), a.Quorum)
	if a.MasterPod != "" {
		s += " (" + a.MasterPod + ")"
	}
	return s
}
func (a SentinelMonitor) Reason() string { return a.Why }
func (a SentinelMonitor) Kind() string   { return "sentinel-monitor" }

// SentinelSet changes one per-master setting of Sentinel (SENTINEL SET). When Password is true
// the value is the topology's password, filled in when the action is sent and never shown.
type SentinelSet struct {
	Sentinel string
	Key      string
	Value    string
	Password bool
	Why      string
}

func (a SentinelSet) String() string {
	v := fmt.Sprintf("%q", a.Value)
	if a.Password {
		v = "[redacted]"
	}
	return fmt.Sprintf("sentinel set %s %s %s", a.Sentinel, a.Key, v)
}
func (a SentinelSet) Reason() string { return a.Why }
func (a SentinelSet) Kind() string   { return "sentinel-set" }

// SentinelReset makes Sentinel forget the replicas and sentinels it knows and rediscover them
// (SENTINEL RESET <master name>).
type SentinelReset struct {
	Sentinel string
	Why      string
}

func (a SentinelReset) String() string { return "sentinel reset " + a.Sentinel }
func (a SentinelReset) Reason() string { return a.Why }
func (a SentinelReset) Kind() string   { return "sentinel-reset" }

// SentinelFailover asks Sentinel to fail over now, without waiting for agreement
// (SENTINEL FAILOVER).
type SentinelFailover struct {
	Sentinel string
	Why      string
}

func (a SentinelFailover) String() string { return "sentinel failover " + a.Sentinel }
func (a SentinelFailover) Reason() string { return a.Why }
func (a SentinelFailover) Kind() string   { return "sentinel-failover" }

// SentinelDebug sets one of a sentinel's timing parameters (SENTINEL DEBUG <key> <millis>;
// rule 12, timing.go).
type SentinelDebug struct {
	Sentinel string
	Key      string
	Millis   int64
	Why      string
}

func (a SentinelDebug) String() string {
	return fmt.Sprintf("sentinel debug %s %s %d", a.Sentinel, strings.ToLower(a.Key), a.Millis)
}
func (a SentinelDebug) Reason() string { return a.Why }
func (a SentinelDebug) Kind() string   { return "sentinel-debug" }

// Wait writes nothing: the healer waits for the next pass on purpose (a sentinel has not yet
// read the replicas' priorities and offsets it must fail over on). It keeps the RedisFailover
// unsettled, so the next pass comes after FastInterval, and it shows in the report why.
type Wait struct {
	Why string
	// Detecting: rule 16 waits for the detection time of a lost master, due within seconds; the
	// next pass comes after a quarter of the fast interval, not after the backoff that the lost
	// master's read errors would otherwise bring (Detecting).
	Detecting bool
}

func (a Wait) String() string { return "wait" }
func (a Wait) Reason() string { return a.Why }
func (a Wait) Kind() string   { return "wait" }
