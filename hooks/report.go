package hooks

import "time"

// HealerReport is what the healer last saw of one RedisFailover's Redis and Sentinel processes.
// It is an input of Sync. Its zero value means "unknown" (no report yet, e.g. right after redhook
// started): Sync then keeps every existing child as it is.
type HealerReport struct {
	// Time is when the healer made the report. Zero means unknown.
	Time time.Time `json:"time"`
	// Master is the pod that Sentinel (or, without sentinels, the healer) agrees is the master
	// and that answers role:master. Nil: no master now.
	Master *MasterStatus `json:"master,omitempty"`
	// FailoverInProgress is true while a sentinel reports a failover in progress, or, without
	// sentinels, while the healer waits for the detection time of a lost master.
	FailoverInProgress bool `json:"failoverInProgress,omitempty"`
	// SwitchoverHeld is true while the healer holds its planned switchover back after repeated
	// failures (the reason is in Errors): nothing will move the master soon.
	SwitchoverHeld bool             `json:"switchoverHeld,omitempty"`
	Redis          []RedisReport    `json:"redis,omitempty"`
	Sentinels      []SentinelReport `json:"sentinels,omitempty"`
	// LastActions are the healer's most recent writes, newest first.
	LastActions []ActionRecord `json:"lastActions,omitempty"`
	// Errors are the problems of the last heal pass, one human-readable line each.
	Errors []string `json:"errors,omitempty"`
}

// Known tells whether the healer has reported at all.
func (o HealerReport) Known() bool { return !o.Time.IsZero() }

// Role values of a redis node, as INFO replication names them.
const (
	RoleMaster  = "master"
	RoleReplica = "slave"
)

// RedisReport is one redis pod as the healer saw it.
type RedisReport struct {
	Pod       string `json:"pod"`
	IP        string `json:"ip"`
	Reachable bool   `json:"reachable"`
	// Role is "master" or "slave" (INFO replication's words); empty when unreachable.
	Role              string `json:"role,omitempty"`
	MasterHost        string `json:"masterHost,omitempty"`
	MasterPort        int32  `json:"masterPort,omitempty"`
	LinkUp            bool   `json:"linkUp,omitempty"`
	Syncing           bool   `json:"syncing,omitempty"`
	Offset            int64  `json:"offset,omitempty"`
	ConnectedReplicas int32  `json:"connectedReplicas,omitempty"`
}

// InSync tells whether the node is a replica of master with a healthy link.
func (r RedisReport) InSync(master *MasterStatus) bool {
	return master != nil && r.Reachable && r.Role == RoleReplica && r.MasterHost == master.IP &&
		r.LinkUp && !r.Syncing
}

// SentinelReport is one sentinel pod as the healer saw it.
type SentinelReport struct {
	Pod       string `json:"pod"`
	IP        string `json:"ip"`
	Reachable bool   `json:"reachable"`
	// MasterIP is the address this sentinel monitors for the master name; empty: none.
	MasterIP string `json:"masterIP,omitempty"`
}

// Agrees tells whether the sentinel monitors master.
func (s SentinelReport) Agrees(master *MasterStatus) bool {
	return master != nil && s.Reachable && s.MasterIP == master.IP
}

// masters returns the reachable redis nodes that report role:master.
func (o HealerReport) masters() []RedisReport {
	var out []RedisReport
	for _, r := range o.Redis {
		if r.Reachable && r.Role == RoleMaster {
			out = append(out, r)
		}
	}
	return out
}

// inSync counts the replicas replicating the master with a healthy link.
func (o HealerReport) inSync() int32 {
	var n int32
	for _, r := range o.Redis {
		if r.InSync(o.Master) {
			n++
		}
	}
	return n
}

// agreeing counts the sentinels that monitor the master.
func (o HealerReport) agreeing() int32 {
	var n int32
	for _, s := range o.Sentinels {
		if s.Agrees(o.Master) {
			n++
		}
	}
	return n
}
