package decision

import (
	"testing"

	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
)

// Rule 16 (sentinel-less mode), on the plan fixtures without sentinels: rfr-a-0 master of
// rfr-a-1 and rfr-a-2 at offset 1000, detection timeout 5 s (a replica must have lost its link
// for DownSince = 3 s).

func sentinellessHealthy() (hooks.Topology, Snapshot) {
	t, o := healthy()
	t.SentinelsEnabled, t.Sentinelless, t.DetectionTimeout = false, true, 5
	t.Sentinels, t.SentinelConfig, o.Sentinels = nil, nil, nil
	return t, o
}

// linkDown makes replica i report its link to its master down for s seconds.
func linkDown(o *Snapshot, i int, s int64) {
	o.Redis[i].Info.LinkUp, o.Redis[i].Info.LinkDownSince = false, s
}

// silent makes pod i unreachable without a refusal: a dial timeout (partition, host gone).
func silent(n *RedisNode) { *n = RedisNode{Pod: n.Pod, Err: "dial tcp: i/o timeout"} }

// refusing makes pod i refuse connections: no process listens.
func refusing(n *RedisNode) {
	*n = RedisNode{Pod: n.Pod, Err: "dial tcp: connection refused", Refused: true}
}

func TestPlanSentinelless(t *testing.T) {
	promote1 := []string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}
	tests := []struct {
		name   string
		change func(t *hooks.Topology, o *Snapshot)
		want   []string
		// reason is a part of the first action's reason.
		reason string
		// master is the pod the report names ("" none).
		master string
	}{
		{"healthy: nothing to do", func(*hooks.Topology, *Snapshot) {}, nil, "", "rfr-a-0"},
		{"master killed: refused, links down: failover at once", func(_ *hooks.Topology, o *Snapshot) {
			refusing(&o.Redis[0])
			linkDown(o, 1, 0)
			linkDown(o, 2, 0)
			o.Redis[2].Info.Offset = 990
		}, promote1, "refusing connections", ""},
		{"master killed, a replica still sees the link up: wait", func(_ *hooks.Topology, o *Snapshot) {
			refusing(&o.Redis[0])
			linkDown(o, 1, 0)
		}, []string{"wait"}, "rfr-a-2 still has its link to rfr-a-0 up", "rfr-a-0"},
		{"master unreachable (timeout), replicas see it: no failover", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
		}, []string{"wait"}, "only the healer lost it", "rfr-a-0"},
		{"master unreachable, links down for less than the detection time: wait", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
			linkDown(o, 1, 3)
			linkDown(o, 2, 2)
		}, []string{"wait"}, "rfr-a-2 has lost its link to rfr-a-0 for 2 s; failing over at 3 s", "rfr-a-0"},
		{"master unreachable, every link down long enough: failover to the most data", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
			linkDown(o, 1, 3)
			linkDown(o, 2, 7)
			o.Redis[1].Info.Offset = 980
		}, []string{"promote rfr-a-2", "replicaof rfr-a-1 10.0.0.12:6379 (rfr-a-2)"}, "every other pod has lost its link", ""},
		{"tie on data: the lowest ordinal", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
			linkDown(o, 1, 4)
			linkDown(o, 2, 4)
		}, promote1, "promoting rfr-a-1", ""},
		{"a replica does not answer: it may keep the master writable: no failover", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
			linkDown(o, 1, 10)
			silent(&o.Redis[2])
		}, []string{"wait"}, "rfr-a-2 does not answer the healer", "rfr-a-0"},
		{"the other replica is down for sure (refused): failover", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
			linkDown(o, 1, 10)
			refusing(&o.Redis[2])
		}, []string{"promote rfr-a-1"}, "every other pod has lost its link", ""},
		{"a replica never linked since it started, for long enough: a witness", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
			linkDown(o, 1, 5)
			linkDown(o, 2, -1)
			o.Redis[2].Info.Uptime = 1
		}, []string{"wait"}, "rfr-a-2 has lost its link to rfr-a-0 for 1 s", "rfr-a-0"},
		{"never an empty node over one that holds data", func(_ *hooks.Topology, o *Snapshot) {
			refusing(&o.Redis[0])
			linkDown(o, 1, 0)
			o.Redis[2] = replicaNode(topo(), 2, "127.0.0.1", 1, 0) // restarted empty
		}, []string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, "promoting rfr-a-1", ""},
		{"master restarted empty (a replica of the placeholder): the replica with the data, at once", func(_ *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(topo(), 0, "127.0.0.1", 1, 0)
			linkDown(o, 1, 0)
			linkDown(o, 2, 0)
		}, []string{"promote rfr-a-1", "replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"},
			"no master", ""},
		{"master cut off from its replicas, fenced: failover, old master demoted", func(_ *hooks.Topology, o *Snapshot) {
			linkDown(o, 1, 3)
			linkDown(o, 2, 3)
			o.Redis[0].Info.Offset = 1010 // writes no replica confirmed
		}, []string{"promote rfr-a-1", "replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"},
			"cut off from its replicas", ""},
		{"master cut off from one replica only: kept", func(_ *hooks.Topology, o *Snapshot) {
			linkDown(o, 1, 30)
		}, nil, "", "rfr-a-0"},
		{"master cut off from replicas that hold no data: kept", func(_ *hooks.Topology, o *Snapshot) {
			linkDown(o, 1, 30)
			linkDown(o, 2, 30)
			o.Redis[1].Info.Offset, o.Redis[1].Info.Keys = 0, 0
			o.Redis[2].Info.Offset, o.Redis[2].Info.Keys = 0, 0
		}, nil, "", "rfr-a-0"},
		{"a redhook restart after the promotion: the promoted master is kept, the rest re-pointed", func(_ *hooks.Topology, o *Snapshot) {
			silent(&o.Redis[0])
			o.Redis[1] = masterNode(topo(), 1, 1000)
			o.Redis[1].Info.ReplID2 = "hist0"
			linkDown(o, 2, 9)
		}, []string{"replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, "replicates rfr-a-0", "rfr-a-1"},
		{"the old master comes back with more unconfirmed writes: demoted, the promoted one kept", func(_ *hooks.Topology, o *Snapshot) {
			o.Redis[0] = masterNode(topo(), 0, 1200)
			o.Redis[0].Info.ReplID = "hist0"
			o.Redis[1] = masterNode(topo(), 1, 1100)
			o.Redis[1].Info.ReplID, o.Redis[1].Info.ReplID2 = "hist1", "hist0"
			o.Redis[2] = replicaNode(topo(), 2, "127.0.0.1", 1, 0)
		}, []string{"replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, "split brain", "rfr-a-1"},
		{"nobody follows a lost master (first start): rule 4", func(_ *hooks.Topology, o *Snapshot) {
			for i := range o.Redis {
				o.Redis[i] = replicaNode(topo(), i, "127.0.0.1", 1, 0)
			}
		}, []string{"promote rfr-a-0", "replicaof rfr-a-1 10.0.0.10:6379 (rfr-a-0)", "replicaof rfr-a-2 10.0.0.10:6379 (rfr-a-0)"}, "no master", ""},
		{"fencing applied live", func(t *hooks.Topology, o *Snapshot) {
			t.ModeConfig = hooks.SentinellessConfig(5)
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"min-replicas-to-write": "1", "min-replicas-max-lag": "2",
					"repl-timeout": "3", "repl-ping-replica-period": "1"}
			}
			o.Redis[2].Config["min-replicas-to-write"] = "0"
		}, []string{`config set rfr-a-2 min-replicas-to-write "1"`}, "want \"1\"", "rfr-a-0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, o := sentinellessHealthy()
			tt.change(&top, &o)
			acts := Plan(top, o)
			assert.Equal(t, tt.want, strs(acts), reasons(acts))
			if tt.reason != "" && len(acts) > 0 {
				assert.Contains(t, acts[0].Reason(), tt.reason)
			}
			r := Report(top, o, nil, nil)
			got := ""
			if r.Master != nil {
				got = r.Master.Pod
			}
			assert.Equal(t, tt.master, got, "reported master")
			assert.Equal(t, acts, Plan(top, o), "pure: same input, same plan")
		})
	}
}

// Sentinel mode is unchanged: the same lost master with Sentinel is Sentinel's to fail over.
func TestPlanSentinelModeIgnoresRule16(t *testing.T) {
	top, o := healthy()
	silent(&o.Redis[0])
	linkDown(&o, 1, 30)
	linkDown(&o, 2, 30)
	acts := Plan(top, o)
	for _, a := range acts {
		_, promote := a.(Promote)
		assert.False(t, promote, reasons(acts))
	}
}

func TestFencingKeepsPromotionAfterFence(t *testing.T) {
	for timeout := int32(hooks.MinDetectionTimeout); timeout <= hooks.MaxDetectionTimeout; timeout++ {
		f := hooks.FencingFor(timeout)
		// docs: promotion more than ReplTimeout + DownSince − 2 s after the partition, fence by
		// MaxLag + 2 s.
		assert.GreaterOrEqual(t, f.ReplTimeout+f.DownSince-2, f.MaxLag+2, "timeout %d", timeout)
		assert.GreaterOrEqual(t, f.MaxLag, int32(2), "timeout %d: replicas acknowledge every second", timeout)
		assert.GreaterOrEqual(t, f.ReplTimeout, int32(2), "timeout %d", timeout)
	}
}

// Only a wait for the detection time asks for the next pass soon; a master that a replica still
// sees, or a pod that does not answer, may last: the passes back off.
func TestPlanSentinellessDetecting(t *testing.T) {
	top, o := sentinellessHealthy()
	silent(&o.Redis[0])
	linkDown(&o, 1, 1)
	linkDown(&o, 2, 5)
	assert.True(t, Detecting(Plan(top, o)), "links down for less than the detection time")
	assert.True(t, Report(top, o, nil, nil).FailoverInProgress, "the report says the master is about to move")
	o.Redis[2].Info.LinkUp = true
	assert.False(t, Detecting(Plan(top, o)), "a replica still sees the master")
	assert.False(t, Report(top, o, nil, nil).FailoverInProgress)
	silent(&o.Redis[2])
	assert.False(t, Detecting(Plan(top, o)), "a replica does not answer")
	assert.False(t, Report(top, o, nil, nil).FailoverInProgress)
}
