package main

import (
	"context"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redhook/redhook/healer/rediscluster"
	"github.com/redhook/redhook/hooks"
)

// clusterHealer plugs the Redis Cluster healer (healer/rediscluster) into the hook server: it
// turns the ClusterTopology of each /sync-cluster into the healer's Topology and the healer's
// Report into the ClusterReport the next sync reads. A RedisCluster that is not synced for
// forgetAfter (deleted, or its CompositeController gone) is forgotten: its connections close.
type clusterHealer struct {
	h           *rediscluster.Healer
	forgetAfter time.Duration
	now         func() time.Time

	mu     sync.Mutex
	last   map[string]rediscluster.Topology // the last topology that was not held, by key
	synced map[string]time.Time
}

func newClusterHealer(h *rediscluster.Healer, forgetAfter time.Duration) *clusterHealer {
	return &clusterHealer{h: h, forgetAfter: forgetAfter, now: time.Now,
		last: map[string]rediscluster.Topology{}, synced: map[string]time.Time{}}
}

// TrackCluster hands the healer a RedisCluster's topology. A held one (invalid spec, missing
// Secret) carries only its pods: the healer goes on with the rest of the last good one, and
// does nothing for a RedisCluster it never had a good topology of.
func (c *clusterHealer) TrackCluster(t hooks.ClusterTopology) {
	c.mu.Lock()
	c.synced[t.Key()] = c.now()
	prev, known := c.last[t.Key()]
	c.mu.Unlock()
	if t.Held && !known {
		return
	}
	topo := clusterTopology(t, prev)
	c.mu.Lock()
	c.last[t.Key()] = topo
	c.mu.Unlock()
	c.h.Track(topo)
}

// clusterTopology is the healer's Topology of t; for a held t, prev's with t's pods.
func clusterTopology(t hooks.ClusterTopology, prev rediscluster.Topology) rediscluster.Topology {
	out := prev
	if !t.Held {
		out = rediscluster.Topology{Namespace: t.Namespace, Name: t.Name, Password: t.Password.Value(),
			NumberOfMaster: int(t.NumberOfMaster), ReplicationFactor: int(t.ReplicationFactor),
			NodeTimeout: time.Duration(t.NodeTimeout) * time.Millisecond}
	}
	out.Nodes = make([]rediscluster.Node, 0, len(t.Nodes))
	for _, n := range t.Nodes {
		out.Nodes = append(out.Nodes, rediscluster.Node{Pod: n.Pod, IP: n.IP, Port: int(t.Port), Shard: n.Shard,
			Ordinal: n.Ordinal, Ready: n.Ready, Terminating: n.Terminating, Updated: n.Updated})
	}
	return out
}

// ClusterReport is the healer's latest report of the RedisCluster key (namespace/name) as the
// sync reads it; unknown before the first pass.
func (c *clusterHealer) ClusterReport(key string) hooks.ClusterReport {
	ns, name, _ := strings.Cut(key, "/")
	return clusterReport(c.h.Report(ns, name))
}

// clusterReport is r in the sync's terms. A leaving shard is Forgotten once the healer says it
// is drained: no slot left and its nodes forgotten by every other node.
func clusterReport(r rediscluster.Report) hooks.ClusterReport {
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

// forgetLoop forgets the RedisClusters not synced for forgetAfter, checking every minute, until
// ctx ends.
func (c *clusterHealer) forgetLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.forgetStale()
	}
}

// forgetStale forgets the RedisClusters not synced for forgetAfter.
func (c *clusterHealer) forgetStale() {
	c.mu.Lock()
	var stale []string
	for key, at := range c.synced {
		if c.now().Sub(at) >= c.forgetAfter {
			stale = append(stale, key)
			delete(c.synced, key)
			delete(c.last, key)
		}
	}
	c.mu.Unlock()
	for _, key := range stale {
		ns, name, _ := strings.Cut(key, "/")
		c.h.Forget(ns, name)
	}
}
