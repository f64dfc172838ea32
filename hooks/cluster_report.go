package hooks

import "time"

// ClusterReport is what the healer last saw of one RedisCluster's nodes (CLUSTER INFO, CLUSTER
// NODES). It is an input of SyncCluster, as HealerReport is of Sync. Its zero value means
// "unknown" (no report yet, e.g. right after redhook started): SyncCluster then keeps every
// observed child as it is and only creates the missing ones.
type ClusterReport struct {
	// Time is when the healer made the report. Zero means unknown.
	Time time.Time `json:"time"`
	// ClusterState is cluster_state of CLUSTER INFO: ClusterStateOK or ClusterStateFail.
	ClusterState string `json:"clusterState,omitempty"`
	// SlotsAssigned is cluster_slots_assigned (of 16384).
	SlotsAssigned int32 `json:"slotsAssigned,omitempty"`
	// SlotsMigrating counts the slots in MIGRATING or IMPORTING state on some master.
	SlotsMigrating int32                `json:"slotsMigrating,omitempty"`
	Nodes          []ClusterNodeReport  `json:"nodes,omitempty"`
	Shards         []ClusterShardReport `json:"shards,omitempty"`
	// LastActions are the healer's most recent writes, newest first.
	LastActions []ActionRecord `json:"lastActions,omitempty"`
	// Errors are the problems of the last heal pass, one human-readable line each.
	Errors []string `json:"errors,omitempty"`
}

// Known tells whether the healer has reported at all.
func (o ClusterReport) Known() bool { return !o.Time.IsZero() }

// Values of ClusterReport.ClusterState (cluster_state of CLUSTER INFO).
const (
	ClusterStateOK   = "ok"
	ClusterStateFail = "fail"
)

// ClusterRoleReplica is a cluster node's replica role (CLUSTER NODES says "slave"; the report
// says replica). A master is RoleMaster.
const ClusterRoleReplica = "replica"

// ClusterSlots is the number of hash slots of a Redis Cluster.
const ClusterSlots = 16384

// ClusterNodeReport is one node (pod) as the healer saw it.
type ClusterNodeReport struct {
	Pod string `json:"pod"`
	IP  string `json:"ip"`
	// NodeID is the node's cluster ID (CLUSTER MYID); empty when unreachable.
	NodeID string `json:"nodeID,omitempty"`
	// Role is RoleMaster or ClusterRoleReplica; empty when unreachable.
	Role string `json:"role,omitempty"`
	// Shard is the shard of the node's pod (its StatefulSet), not of its master.
	Shard int `json:"shard"`
	// MasterNodeID is a replica's master; empty for a master.
	MasterNodeID string `json:"masterNodeID,omitempty"`
	// Slots a master serves.
	Slots     int32 `json:"slots,omitempty"`
	Reachable bool  `json:"reachable"`
}

// ClusterShardReport is one shard as the healer saw it.
type ClusterShardReport struct {
	Index int `json:"index"`
	// Master is the pod of the shard's master; empty when the shard has none.
	Master string `json:"master,omitempty"`
	// Replicas are the pods replicating Master.
	Replicas []string `json:"replicas,omitempty"`
	// Slots the shard's master serves.
	Slots int32 `json:"slots"`
	// Forgotten: no node of the cluster knows a node of this shard any more (the healer moved
	// its slots away and sent CLUSTER FORGET everywhere). It is the healer's word that a shard a
	// scale-in removes may be deleted: SyncCluster keeps the shard's StatefulSet until then.
	Forgotten bool `json:"forgotten,omitempty"`
}

// shard returns the report of shard k; nil when the report has none.
func (o ClusterReport) shard(k int) *ClusterShardReport {
	for i := range o.Shards {
		if o.Shards[i].Index == k {
			return &o.Shards[i]
		}
	}
	return nil
}

// released tells whether a leaving shard k may be deleted: the healer reports it empty and
// forgotten.
func (o ClusterReport) released(k int) bool {
	s := o.shard(k)
	return o.Known() && s != nil && s.Slots == 0 && s.Forgotten
}
