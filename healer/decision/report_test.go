package decision

import (
	"testing"
	"time"

	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReport(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		top, o := healthy()
		o.Time = time.Unix(1700000000, 0)
		acts := []hooks.ActionRecord{{Action: "promote rfr-a-0", Reason: "no master"}}
		r := Report(top, o, acts, []string{"replicaof rfr-a-1: timeout"})
		assert.Equal(t, o.Time, r.Time)
		assert.Equal(t, &hooks.MasterStatus{Pod: "rfr-a-0", IP: "10.0.0.10"}, r.Master)
		assert.False(t, r.FailoverInProgress)
		require.Len(t, r.Redis, 3)
		assert.Equal(t, hooks.RedisReport{Pod: "rfr-a-1", IP: "10.0.0.11", Reachable: true, Role: "slave",
			MasterHost: "10.0.0.10", MasterPort: 6379, LinkUp: true, Offset: 1000}, r.Redis[1])
		assert.True(t, r.Redis[1].InSync(r.Master))
		assert.Equal(t, int32(2), r.Redis[0].ConnectedReplicas)
		require.Len(t, r.Sentinels, 3)
		assert.True(t, r.Sentinels[2].Agrees(r.Master))
		assert.Equal(t, acts, r.LastActions)
		assert.Equal(t, []string{"replicaof rfr-a-1: timeout"}, r.Errors)
	})
	t.Run("unreachable and failover", func(t *testing.T) {
		top, o := healthy()
		unreachable(&o.Redis[0])
		o.Sentinels[1] = SentinelNode{Pod: top.Sentinels[1], Err: "dial tcp: i/o timeout"}
		o.Sentinels[0].Master.Flags = append(o.Sentinels[0].Master.Flags, "failover_in_progress")
		o.Redis[2].ConfigErr = "config get: ERR unknown command"
		r := Report(top, o, nil, nil)
		assert.Nil(t, r.Master, "the sentinels' master is unreachable")
		assert.True(t, r.FailoverInProgress)
		assert.False(t, r.Redis[0].Reachable)
		assert.Empty(t, r.Redis[0].Role)
		assert.Empty(t, r.Sentinels[1].MasterIP)
		assert.Equal(t, []string{"rfr-a-0: dial tcp: connection refused", "rfr-a-2: config get: ERR unknown command",
			"rfs-a-y: dial tcp: i/o timeout"}, r.Errors)
	})
	// The master's pod handed over in its preStop hook and is gone; Sentinel's failover promoted
	// rfr-a-1 and now waits for rfr-a-2 to follow, still naming rfr-a-0.
	promoted := func(state string) (hooks.Topology, Snapshot) {
		top, o := healthy()
		unreachable(&o.Redis[0])
		o.Redis[1] = masterNode(top, 1, 1000, 0)
		o.Sentinels[0].Master.Flags = []string{"master", "failover_in_progress"}
		o.Sentinels[0].Master.FailoverState = state
		o.Sentinels[0].Replicas[0].Flags = []string{"slave", "promoted"} // rfr-a-1
		return top, o
	}
	t.Run("the replica a failover promoted is reported from the promotion on", func(t *testing.T) {
		for _, state := range []string{"wait_promotion", "reconf_slaves", "update_config"} {
			top, o := promoted(state)
			r := Report(top, o, nil, nil)
			assert.Equal(t, &hooks.MasterStatus{Pod: "rfr-a-1", IP: "10.0.0.11"}, r.Master, state)
			assert.True(t, r.FailoverInProgress)
		}
	})
	t.Run("a failover not past the promotion reports no master", func(t *testing.T) {
		for _, state := range []string{"wait_start", "select_slave", "send_slaveof_noone"} {
			top, o := promoted(state)
			assert.Nil(t, Report(top, o, nil, nil).Master, state)
		}
	})
	t.Run("a promoted replica that answers as a replica is not reported", func(t *testing.T) {
		for _, state := range []string{"wait_promotion", "reconf_slaves"} {
			top, o := promoted(state)
			o.Redis[1] = replicaNode(top, 1, redisIP(2), 6379, 1000)
			assert.Nil(t, Report(top, o, nil, nil).Master, state)
		}
	})
	t.Run("two failovers that promoted different replicas report no master", func(t *testing.T) {
		top, o := promoted("reconf_slaves")
		o.Redis[2] = masterNode(top, 2, 1000, 0)
		o.Sentinels[1].Master.Flags = []string{"master", "failover_in_progress"}
		o.Sentinels[1].Master.FailoverState = "reconf_slaves"
		o.Sentinels[1].Replicas[1].Flags = []string{"slave", "promoted"} // rfr-a-2
		assert.Nil(t, Report(top, o, nil, nil).Master)
	})
	// The failover ended on its leader (rfs-a-x), which names rfr-a-1 in configuration epoch 1;
	// the two others still name the old master, gone after its hand-over, until they hear the
	// leader's hello.
	ended := func() (hooks.Topology, Snapshot) {
		top, o := promoted("")
		o.Sentinels[0].Master = &SentinelMaster{Name: "mymaster", IP: redisIP(1), Port: 6379, ConfigEpoch: 1,
			Flags: []string{"master"}}
		return top, o
	}
	t.Run("the master of a newer configuration is reported while the other sentinels lag", func(t *testing.T) {
		top, o := ended()
		assert.Equal(t, &hooks.MasterStatus{Pod: "rfr-a-1", IP: "10.0.0.11"}, Report(top, o, nil, nil).Master)
	})
	t.Run("not when it answers as a replica, or is not ours", func(t *testing.T) {
		top, o := ended()
		o.Redis[1] = replicaNode(top, 1, redisIP(2), 6379, 1000)
		assert.Nil(t, Report(top, o, nil, nil).Master)
		top, o = ended()
		o.Sentinels[0].Master.IP = "192.0.2.9"
		assert.Nil(t, Report(top, o, nil, nil).Master)
	})
	t.Run("not when two masters share the newest epoch", func(t *testing.T) {
		top, o := ended()
		o.Redis[2] = masterNode(top, 2, 1000, 0)
		o.Sentinels[1].Master = &SentinelMaster{Name: "mymaster", IP: redisIP(2), Port: 6379, ConfigEpoch: 1,
			Flags: []string{"master"}}
		assert.Nil(t, newView(top, o).newestConfigMaster()) // the election decides: rule 5
	})
	t.Run("a master about to be promoted is not reported", func(t *testing.T) {
		top, o := fresh()
		assert.Nil(t, Report(top, o, nil, nil).Master)
	})
	t.Run("without agreement the only master is reported", func(t *testing.T) {
		top, o := healthy()
		_, f := fresh()
		o.Sentinels = f.Sentinels
		assert.Equal(t, "rfr-a-0", Report(top, o, nil, nil).Master.Pod)
	})
	t.Run("bootstrap has no master of its own", func(t *testing.T) {
		top, o := healthy()
		top.Bootstrap = &hooks.Endpoint{Host: "192.0.2.7", Port: 6379}
		assert.Nil(t, Report(top, o, nil, nil).Master)
	})
}
