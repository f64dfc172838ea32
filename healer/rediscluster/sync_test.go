package rediscluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/hooks"
)

func TestClusterTopologyFromSync(t *testing.T) {
	good := hooks.ClusterTopology{Namespace: "ns", Name: "c", Port: 6379, NumberOfMaster: 3, ReplicationFactor: 1, NodeTimeout: 5000,
		Password: hooks.NewSecret("pw"), Nodes: []hooks.ClusterNodeRef{
			{Pod: "rdc-c-0-0", IP: "10.0.0.1", Shard: 0, Ordinal: 0, Ready: true, Updated: true},
			{Pod: "rdc-c-0-1", IP: "10.0.0.2", Shard: 0, Ordinal: 1, Terminating: true}}}
	got := FromSync(good, Topology{})
	assert.Equal(t, Topology{Namespace: "ns", Name: "c", Password: "pw", NumberOfMaster: 3, ReplicationFactor: 1,
		NodeTimeout: 5 * time.Second, Nodes: []Node{
			{Pod: "rdc-c-0-0", IP: "10.0.0.1", Port: 6379, Shard: 0, Ordinal: 0, Ready: true, Updated: true},
			{Pod: "rdc-c-0-1", IP: "10.0.0.2", Port: 6379, Shard: 0, Ordinal: 1, Terminating: true}}}, got)

	// A held topology (invalid spec) carries only its pods: the rest is the last good one's.
	held := hooks.ClusterTopology{Namespace: "ns", Name: "c", Held: true,
		Nodes: []hooks.ClusterNodeRef{{Pod: "rdc-c-0-0", IP: "10.0.0.9", Shard: 0}}}
	kept := FromSync(held, got)
	assert.Equal(t, "pw", kept.Password)
	assert.Equal(t, 3, kept.NumberOfMaster)
	require.Len(t, kept.Nodes, 1)
	assert.Equal(t, "10.0.0.9", kept.Nodes[0].IP)
	assert.Len(t, got.Nodes, 2, "the previous topology is not changed")
}

func TestClusterReportForTheSync(t *testing.T) {
	at := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	r := (Report{Time: at, ClusterState: "ok", SlotsAssigned: 16384, SlotsMigrating: 2,
		Nodes: []NodeReport{{Pod: "rdc-c-3-0", IP: "10.0.0.7", NodeID: "abc", Role: "master", Shard: 3, Reachable: true}},
		Shards: []ShardReport{{Index: 3, Master: "rdc-c-3-0", Leaving: true, Drained: true},
			{Index: 0, Master: "rdc-c-0-0", Replicas: []string{"rdc-c-0-1"}, Slots: 5462}},
		LastActions: []ActionRecord{{Time: "2026-11-30T04:59:58Z", Action: "cluster forget x", Reason: "gone", Error: "timeout"}},
		Errors:      []string{"rdc-c-1-0: i/o timeout"}}).ForSync()
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
	assert.False(t, Report{}.ForSync().Known(), "the zero report is unknown")
}
