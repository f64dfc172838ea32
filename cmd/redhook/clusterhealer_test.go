package main

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/rediscluster"
	"github.com/redhook/redhook/hooks"
)

func TestClusterTopologyFromSync(t *testing.T) {
	good := hooks.ClusterTopology{Namespace: "ns", Name: "c", Port: 6379, NumberOfMaster: 3, ReplicationFactor: 1, NodeTimeout: 5000,
		Password: hooks.NewSecret("pw"), Nodes: []hooks.ClusterNodeRef{
			{Pod: "rdc-c-0-0", IP: "10.0.0.1", Shard: 0, Ordinal: 0, Ready: true, Updated: true},
			{Pod: "rdc-c-0-1", IP: "10.0.0.2", Shard: 0, Ordinal: 1, Terminating: true}}}
	got := clusterTopology(good, rediscluster.Topology{})
	assert.Equal(t, rediscluster.Topology{Namespace: "ns", Name: "c", Password: "pw", NumberOfMaster: 3, ReplicationFactor: 1,
		NodeTimeout: 5 * time.Second, Nodes: []rediscluster.Node{
			{Pod: "rdc-c-0-0", IP: "10.0.0.1", Port: 6379, Shard: 0, Ordinal: 0, Ready: true, Updated: true},
			{Pod: "rdc-c-0-1", IP: "10.0.0.2", Port: 6379, Shard: 0, Ordinal: 1, Terminating: true}}}, got)

	// A held topology (invalid spec) carries only its pods: the rest is the last good one's.
	held := hooks.ClusterTopology{Namespace: "ns", Name: "c", Held: true,
		Nodes: []hooks.ClusterNodeRef{{Pod: "rdc-c-0-0", IP: "10.0.0.9", Shard: 0}}}
	kept := clusterTopology(held, got)
	assert.Equal(t, "pw", kept.Password)
	assert.Equal(t, 3, kept.NumberOfMaster)
	require.Len(t, kept.Nodes, 1)
	assert.Equal(t, "10.0.0.9", kept.Nodes[0].IP)
	assert.Len(t, got.Nodes, 2, "the previous topology is not changed")
}

func TestClusterHealerTracksAndForgets(t *testing.T) {
	h := rediscluster.New(rediscluster.Config{}, zerolog.Nop())
	c := newClusterHealer(h, time.Minute)
	now := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	held := hooks.ClusterTopology{Namespace: "ns", Name: "c", Held: true}
	c.TrackCluster(held)
	assert.Empty(t, c.last, "a held topology of a RedisCluster never seen whole is not tracked")
	c.TrackCluster(hooks.ClusterTopology{Namespace: "ns", Name: "c", NumberOfMaster: 3})
	require.Contains(t, c.last, "ns/c")
	assert.False(t, c.ClusterReport("ns/c").Known(), "no pass yet: unknown")
	now = now.Add(59 * time.Second)
	c.forgetStale()
	assert.Contains(t, c.last, "ns/c", "synced within forgetAfter")
	now = now.Add(time.Second)
	c.forgetStale()
	assert.NotContains(t, c.last, "ns/c")
	assert.NotContains(t, c.synced, "ns/c")
}

func TestClusterReportForTheSync(t *testing.T) {
	at := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	r := clusterReport(rediscluster.Report{Time: at, ClusterState: "ok", SlotsAssigned: 16384, SlotsMigrating: 2,
		Nodes: []rediscluster.NodeReport{{Pod: "rdc-c-3-0", IP: "10.0.0.7", NodeID: "abc", Role: "master", Shard: 3, Reachable: true}},
		Shards: []rediscluster.ShardReport{{Index: 3, Master: "rdc-c-3-0", Leaving: true, Drained: true},
			{Index: 0, Master: "rdc-c-0-0", Replicas: []string{"rdc-c-0-1"}, Slots: 5462}},
		LastActions: []rediscluster.ActionRecord{{Time: "2026-11-30T04:59:58Z", Action: "cluster forget x", Reason: "gone", Error: "timeout"}},
		Errors:      []string{"rdc-c-1-0: i/o timeout"}})
	assert.True(t, r.Known())
	assert.Equal(t, "ok", r.ClusterState)
	assert.EqualValues(t, 16384, r.SlotsAssigned)
	assert.EqualValues(t, 2, r.SlotsMigrating)
	require.Len(t, r.Shards, 2)
	assert.True(t, r.Shards[0].Forgotten, "a drained leaving shard may be deleted")
	assert.False(t, r.Shards[1].Forgotten)
	assert.EqualValues(t, 5462, r.Shards[1].Slots)
	require.Len(t, r.LastActions, 1)
	assert.Equal(t, "cluster forget x", r.LastActions[0].Action)
	assert.Equal(t, "gone (failed: timeout)", r.LastActions[0].Reason)
	assert.Equal(t, at.Add(-2*time.Second), r.LastActions[0].Time.Time.UTC())
	assert.Equal(t, []string{"rdc-c-1-0: i/o timeout"}, r.Errors)
	assert.False(t, clusterReport(rediscluster.Report{}).Known(), "the zero report is unknown")
}
