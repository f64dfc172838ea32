package rediscluster

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redhook/redhook/hooks"
)

// The healer and the sync hook speak about a RedisCluster in their own types: these convert
// between them, for `redhook serve` and `redhook local` alike.

// FromSync is the healer's Topology of the topology a sync computed (hooks.SyncClusterWithTopology);
// for a held t (invalid spec, missing Secret), prev's with t's pods.
func FromSync(t hooks.ClusterTopology, prev Topology) Topology {
	out := prev
	if !t.Held {
		out = Topology{Namespace: t.Namespace, Name: t.Name, Password: t.Password.Value(),
			NumberOfMaster: int(t.NumberOfMaster), ReplicationFactor: int(t.ReplicationFactor),
			NodeTimeout: time.Duration(t.NodeTimeout) * time.Millisecond}
	}
	out.Nodes = make([]Node, 0, len(t.Nodes))
	for _, n := range t.Nodes {
		out.Nodes = append(out.Nodes, Node{Pod: n.Pod, IP: n.IP, Port: int(t.Port), Shard: n.Shard,
			Ordinal: n.Ordinal, Ready: n.Ready, Terminating: n.Terminating, Updated: n.Updated})
	}
	return out
}

// ForSync is r in the sync's terms (the input of hooks.SyncCluster). A leaving shard is Forgotten once the healer says it
// is drained: no slot left and its nodes forgotten by every other node.
func (r Report) ForSync() hooks.ClusterReport {
	out := hooks.ClusterReport{Time: r.Time, ClusterState: r.ClusterState, SlotsAssigned: int32(r.SlotsAssigned),
		SlotsMigrating: int32(r.SlotsMigrating), Errors: r.Errors}
	for _, n := range r.Nodes {
		out.Nodes = append(out.Nodes, hooks.ClusterNodeReport{Pod: n.Pod, IP: n.IP, NodeID: n.NodeID, Role: n.Role,
			Shard: n.Shard, MasterNodeID: n.MasterNodeID, Slots: int32(n.Slots), Reachable: n.Reachable})
	}
	for _, s := range r.Shards {
		out.Shards = append(out.Shards, hooks.ClusterShardReport{Index: s.Index, Master: s.Master, Replicas: s.Replicas,
			Slots: int32(s.Slots), Forgotten: s.Drained})
	}
	for _, a := range r.LastActions {
		rec := hooks.ActionRecord{Action: a.Action, Reason: a.Reason}
		if a.Error != "" {
			rec.Reason += " (failed: " + a.Error + ")"
		}
		if at, err := time.Parse(time.RFC3339, a.Time); err == nil {
			rec.Time = metav1.NewTime(at)
		}
		out.LastActions = append(out.LastActions, rec)
	}
	return out
}
