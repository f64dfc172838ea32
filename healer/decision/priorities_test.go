package decision

import (
	"testing"

	"github.com/redhook/redhook/hooks"
)

// withPriorities gives every redis node of o the replica-priority it reports and every sentinel
// the timing parameters of debug (nil: unknown), as observe reads them.
func withPriorities(o *Snapshot, priority string, debug func() map[string]int64) {
	for i := range o.Redis {
		o.Redis[i].Config = map[string]string{ReplicaPriorityKey: priority}
	}
	for i := range o.Sentinels {
		if debug != nil {
			o.Sentinels[i].Debug = debug()
		}
	}
}

// tuned is SENTINEL DEBUG of a sentinel that rule 12 has set.
func tuned() map[string]int64 {
	return map[string]int64{"INFO-PERIOD": 1000, "PING-PERIOD": 250, "ASK-PERIOD": 250, "PUBLISH-PERIOD": 2000}
}

// sentinelDefaults is SENTINEL DEBUG of a sentinel just started (Redis 7.0).
func sentinelDefaults() map[string]int64 {
	return map[string]int64{"INFO-PERIOD": 10000, "PING-PERIOD": 1000, "ASK-PERIOD": 1000, "PUBLISH-PERIOD": 2000}
}

// restartedMaster is rule 11's situation: rfr-a-0, the sentinels' master, restarted empty as a
// replica of the placeholder; rfr-a-2 holds the last writes (offset 1200), rfr-a-1 less (1000),
// and the sentinels last read 1000 for both.
func restartedMaster(t *hooks.Topology, o *Snapshot) {
	o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
	o.Redis[1].Info.LinkUp = false
	o.Redis[2].Info.LinkUp, o.Redis[2].Info.Offset = false, 1200
	withPriorities(o, "100", tuned)
}

// masterGone is rule 13's situation: rfr-a-0 unreachable, the sentinels about to fail over;
// rfr-a-2 holds the last writes (offset 1200).
func masterGone(t *hooks.Topology, o *Snapshot) {
	withPriorities(o, "100", tuned)
	unreachable(&o.Redis[0])
	o.Redis[1].Info.LinkUp = false
	o.Redis[2].Info.LinkUp, o.Redis[2].Info.Offset = false, 1200
}

func TestPlanFailoverPriorities(t *testing.T) {
	runPlanCases(t, []planCase{
		{name: "healthy with known priorities and timings: nothing to do", edit: func(_ *hooks.Topology, o *Snapshot) {
			withPriorities(o, "100", tuned)
		}},
		{name: "rule 12: a sentinel at Sentinel's defaults gets the three timings", edit: func(_ *hooks.Topology, o *Snapshot) {
			withPriorities(o, "100", tuned)
			o.Sentinels[1].Debug = sentinelDefaults()
		}, want: []string{"sentinel debug rfs-a-y info-period 1000", "sentinel debug rfs-a-y ping-period 250",
			"sentinel debug rfs-a-y ask-period 250"}, reason: "is 10000 ms"},
		{name: "rule 12: only the timing that differs is written", edit: func(_ *hooks.Topology, o *Snapshot) {
			withPriorities(o, "100", tuned)
			o.Sentinels[2].Debug["PING-PERIOD"] = 100
		}, want: []string{"sentinel debug rfs-a-z ping-period 250"}, reason: "is 100 ms: Sentinel would declare a new master down"},
		{name: "rule 12: unknown timings are never written blind", edit: func(_ *hooks.Topology, o *Snapshot) {
			withPriorities(o, "100", nil)
			o.Sentinels[0].Debug = map[string]int64{"INFO-PERIOD": 1000} // an older Sentinel without the others
		}},
		{name: "rule 12: not during a failover (rule 1)", edit: func(_ *hooks.Topology, o *Snapshot) {
			withPriorities(o, "100", sentinelDefaults)
			o.Sentinels[0].Master.FailoverState = "select_slave"
		}},
		{name: "rule 13: master gone, Sentinel to fail over: the replica with the most data gets the best priority", edit: masterGone,
			want:   []string{"replica-priority rfr-a-2 1"},
			reason: "the master is gone: rfr-a-2 holds the most data (offset 1200), Sentinel must promote it"},
		{name: "rule 13: a replica steered before and now behind is made worse again", edit: func(t *hooks.Topology, o *Snapshot) {
			masterGone(t, o)
			o.Redis[1].Config[ReplicaPriorityKey] = "1"
		}, want: []string{"replica-priority rfr-a-2 1", "replica-priority rfr-a-1 100"}},
		{name: "rule 13: already steered: nothing more", edit: func(t *hooks.Topology, o *Snapshot) {
			masterGone(t, o)
			o.Redis[2].Config[ReplicaPriorityKey] = "1"
		}},
		{name: "rule 13: customConfig priority 1: the others get 2", edit: func(t *hooks.Topology, o *Snapshot) {
			masterGone(t, o)
			t.RedisConfig = []hooks.ConfigEntry{{Key: "replica-priority", Value: "1"}}
			withPriorities(o, "1", tuned)
		}, want: []string{"replica-priority rfr-a-1 2"}},
		{name: "rule 13: customConfig priority 0 is never steered", edit: func(t *hooks.Topology, o *Snapshot) {
			masterGone(t, o)
			t.RedisConfig = []hooks.ConfigEntry{{Key: "replica-priority", Value: "0"}}
			withPriorities(o, "0", tuned)
		}},
		{name: "rule 13: a node pinned to 0 and a node of unknown priority are left alone", edit: func(t *hooks.Topology, o *Snapshot) {
			masterGone(t, o)
			o.Redis[2].Config[ReplicaPriorityKey] = "0"
			o.Redis[1].Config = nil
		}},
		{name: "rule 13: the priority of a pinned node is not restored either", edit: func(_ *hooks.Topology, o *Snapshot) {
			withPriorities(o, "100", tuned)
			o.Redis[2].Config[ReplicaPriorityKey] = "0"
		}},
		{name: "restore: a healthy master again: steered priorities back to normal", edit: func(_ *hooks.Topology, o *Snapshot) {
			withPriorities(o, "100", tuned)
			o.Redis[0].Config[ReplicaPriorityKey] = "1" // the promoted replica
		}, want: []string{"replica-priority rfr-a-0 100"}, reason: `is "1", want "100": no failover to steer`},
		{name: "restore: to customConfig's value, written once (not also by rule 9)", edit: func(t *hooks.Topology, o *Snapshot) {
			t.RedisConfig = []hooks.ConfigEntry{{Key: "replica-priority", Value: "50"}}
			withPriorities(o, "50", tuned)
			o.Redis[1].Config[ReplicaPriorityKey] = "2"
		}, want: []string{"replica-priority rfr-a-1 50"}},
		{name: "rule 11: the sentinel would promote the replica with less data: steer first, no failover", edit: restartedMaster,
			want:   []string{"replica-priority rfr-a-2 1"},
			reason: "rfr-a-2 holds the most data (offset 1200)"},
		{name: "rule 11: steered but not yet read by the sentinel: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedMaster(t, o)
			o.Redis[2].Config[ReplicaPriorityKey] = "1"
		}, want: []string{"wait"},
			reason: "not yet: rfs-a-x would promote rfr-a-1 (priority 100, offset 1000 as it last read; offset 1000 now), not rfr-a-2"},
		{name: "rule 11: the sentinel read the steered priority: failover", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedMaster(t, o)
			o.Redis[2].Config[ReplicaPriorityKey] = "1"
			o.Sentinels[1].Replicas[1].Priority = 1
		}, want: []string{"sentinel failover rfs-a-y"}},
		{name: "rule 11: the sentinel read the offsets: failover without steering", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedMaster(t, o)
			o.Sentinels[2].Replicas[1].Offset = 1200
		}, want: []string{"sentinel failover rfs-a-z"}},
		{name: "rule 11: Sentinel's order: lowest priority first, whatever the offsets", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedMaster(t, o)
			o.Sentinels[0].Replicas[1].Offset = 1200
			o.Sentinels[0].Replicas[0].Priority = 10 // rfr-a-1 pinned better by hand
			o.Redis[1].Config[ReplicaPriorityKey] = "10"
		}, want: []string{"replica-priority rfr-a-2 1", "replica-priority rfr-a-1 100"}},
		{name: "rule 11: Sentinel's order: priority 0 and s_down replicas are not candidates", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedMaster(t, o)
			o.Sentinels[0].Replicas[0].Priority = 0
			o.Sentinels[1].Replicas[0].Flags = []string{"slave", "s_down"}
			o.Sentinels[2].Info.Tilt = true
		}, want: []string{"sentinel failover rfs-a-x"}},
		{name: "rule 11: Sentinel's order: equal offsets, the lower run id", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedMaster(t, o)
			o.Redis[2].Info.Offset = 1000
			o.Redis[1].Info.Offset = 1200
			o.Sentinels[0].Replicas[0].RunID = "zzz" // rfr-a-1: Sentinel picks rfr-a-2 (run2)
			o.Sentinels[1].Replicas[0].RunID = "zzz"
		}, want: []string{"sentinel failover rfs-a-z"}},
		{name: "rule 11: no sentinel knows the replica with the most data: the healer promotes it", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedMaster(t, o)
			for i := range o.Sentinels {
				o.Sentinels[i].Replicas = o.Sentinels[i].Replicas[:1] // rfr-a-1 only
			}
		}, want: append([]string{"promote rfr-a-2", "replicaof rfr-a-0 10.0.0.12:6379 (rfr-a-2)",
			"replicaof rfr-a-1 10.0.0.12:6379 (rfr-a-2)"}, monitorAll(topo(), 2, true)...),
			reason: "no sentinel can fail over to it"},
	})
}
