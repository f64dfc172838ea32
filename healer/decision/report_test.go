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
