package healer

import (
	"context"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// applyTopology has one redis pod and one sentinel with IPs, and a password.
func applyTopology() hooks.Topology {
	return hooks.Topology{MasterName: "mymaster", RedisPort: 6379, SentinelPort: 26379,
		Password:  hooks.NewSecret("s3cret"),
		Redis:     []hooks.PodRef{{Name: "rfr-a-0", IP: "10.0.0.10"}, {Name: "rfr-a-1"}},
		Sentinels: []hooks.PodRef{{Name: "rfs-a-x", IP: "10.0.1.1"}}}
}

func TestRequestOf(t *testing.T) {
	top := applyTopology()
	m := hooks.Endpoint{Host: "10.0.0.11", Port: 6379}
	tests := []struct {
		a    decision.Action
		addr string
		args []string
	}{
		{decision.ReplicaOf{Pod: "rfr-a-0", Master: m}, "10.0.0.10:6379", []string{"REPLICAOF", "10.0.0.11", "6379"}},
		{decision.Promote{Pod: "rfr-a-0"}, "10.0.0.10:6379", []string{"REPLICAOF", "NO", "ONE"}},
		{decision.ConfigSet{Pod: "rfr-a-0", Key: "maxmemory", Value: "100mb"}, "10.0.0.10:6379",
			[]string{"CONFIG", "SET", "maxmemory", "100mb"}},
		{decision.ReplicaPriority{Pod: "rfr-a-0", Value: "1"}, "10.0.0.10:6379",
			[]string{"CONFIG", "SET", "replica-priority", "1"}},
		{decision.SentinelRemove{Sentinel: "rfs-a-x"}, "10.0.1.1:26379", []string{"SENTINEL", "REMOVE", "mymaster"}},
		{decision.SentinelMonitor{Sentinel: "rfs-a-x", Master: m, Quorum: 2}, "10.0.1.1:26379",
			[]string{"SENTINEL", "MONITOR", "mymaster", "10.0.0.11", "6379", "2"}},
		{decision.SentinelSet{Sentinel: "rfs-a-x", Key: "parallel-syncs", Value: "2"}, "10.0.1.1:26379",
			[]string{"SENTINEL", "SET", "mymaster", "parallel-syncs", "2"}},
		{decision.SentinelSet{Sentinel: "rfs-a-x", Key: "auth-pass", Password: true}, "10.0.1.1:26379",
			[]string{"SENTINEL", "SET", "mymaster", "auth-pass", "s3cret"}},
		{decision.SentinelReset{Sentinel: "rfs-a-x"}, "10.0.1.1:26379", []string{"SENTINEL", "RESET", "mymaster"}},
		{decision.SentinelFailover{Sentinel: "rfs-a-x"}, "10.0.1.1:26379", []string{"SENTINEL", "FAILOVER", "mymaster"}},
		{decision.SentinelDebug{Sentinel: "rfs-a-x", Key: "INFO-PERIOD", Millis: 1000}, "10.0.1.1:26379",
			[]string{"SENTINEL", "DEBUG", "INFO-PERIOD", "1000"}},
	}
	for _, tt := range tests {
		t.Run(tt.a.String(), func(t *testing.T) {
			r, err := requestOf(top, tt.a)
			require.NoError(t, err)
			assert.Equal(t, tt.args, r.args)
			addr, err := r.addr(top)
			require.NoError(t, err)
			assert.Equal(t, tt.addr, addr)
		})
	}
	t.Run("wait sends nothing", func(t *testing.T) {
		r, err := requestOf(top, decision.Wait{Why: "not yet"})
		require.NoError(t, err)
		assert.Nil(t, r.args)
	})
	t.Run("a pod without IP has no address", func(t *testing.T) {
		r, err := requestOf(top, decision.Promote{Pod: "rfr-a-1"})
		require.NoError(t, err)
		_, err = r.addr(top)
		assert.ErrorIs(t, err, errUnknownPod)
	})
}

// TestApplySkips runs apply on pods that cannot be reached without any dial (no IP): the
// failures are real, and what depends on them is skipped, not sent.
func TestApplySkips(t *testing.T) {
	top := applyTopology()
	top.Sentinels = append(top.Sentinels, hooks.PodRef{Name: "rfs-a-y"})
	c := newConns(time.Second, time.Second, time.Second)
	defer c.closeAll()
	m := hooks.Endpoint{Host: "10.0.0.11", Port: 6379}
	outs := apply(context.Background(), top, c, []decision.Action{
		decision.Promote{Pod: "rfr-a-1"},
		decision.ReplicaOf{Pod: "rfr-a-0", MasterPod: "rfr-a-1", Master: m},
		decision.SentinelRemove{Sentinel: "rfs-a-y"},
		decision.SentinelMonitor{Sentinel: "rfs-a-y", Master: m, Quorum: 2},
		decision.SentinelSet{Sentinel: "rfs-a-y", Key: "parallel-syncs", Value: "2"},
		decision.SentinelDebug{Sentinel: "rfs-a-y", Key: "INFO-PERIOD", Millis: 1000},
		decision.Wait{Why: "not yet"},
	})
	require.Len(t, outs, 7)
	assert.ErrorIs(t, outs[0].Err, errUnknownPod)
	assert.ErrorIs(t, outs[1].Err, errSkipped, "the master's promotion failed")
	assert.ErrorIs(t, outs[2].Err, errUnknownPod)
	assert.ErrorIs(t, outs[3].Err, errSkipped, "the sentinel's remove failed")
	assert.ErrorIs(t, outs[4].Err, errSkipped, "the sentinel's monitor failed")
	assert.ErrorIs(t, outs[5].Err, errUnknownPod, "not a monitor step: sent (and failed) anyway")
	assert.NoError(t, outs[6].Err)
	assert.Equal(t, "promote rfr-a-1: rfr-a-1: pod not in topology or without IP", outs[0].Err.Error())
	assert.Zero(t, c.len(), "nothing was dialled")
}
