package decision

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The plan fixtures: RedisFailover "a" with three redis pods (10.0.0.10–12) and three sentinels
// (10.0.1.1–3). healthy() is a converged observation: rfr-a-0 master, everything agrees.

const foreignIP = "10.9.9.9" // a pod IP of another RedisFailover

func topo() hooks.Topology {
	t := hooks.Topology{Namespace: "ns", Name: "a", MasterName: "mymaster", RedisPort: 6379,
		SentinelPort: 26379, Quorum: 2, SentinelsEnabled: true,
		Placeholder: hooks.Endpoint{Host: "127.0.0.1", Port: 1},
		SentinelConfig: []hooks.ConfigEntry{{Key: "down-after-milliseconds", Value: "5000"},
			{Key: "failover-timeout", Value: "10000"}, {Key: "parallel-syncs", Value: "2"}}}
	for i := 0; i < 3; i++ {
		t.Redis = append(t.Redis, hooks.PodRef{Name: fmt.Sprintf("rfr-a-%d", i), IP: redisIP(i), Ordinal: i, Ready: true})
		t.Sentinels = append(t.Sentinels, hooks.PodRef{Name: fmt.Sprintf("rfs-a-%c", 'x'+i), IP: sentinelIP(i), Ordinal: -1, Ready: true})
	}
	return t
}

func redisIP(i int) string    { return fmt.Sprintf("10.0.0.%d", 10+i) }
func sentinelIP(i int) string { return fmt.Sprintf("10.0.1.%d", 1+i) }

func masterNode(t hooks.Topology, i int, offset int64, replicas ...int) RedisNode {
	n := RedisNode{Pod: t.Redis[i], Info: RedisInfo{Role: hooks.RoleMaster, Offset: offset, Keys: offset / 10,
		ConnectedReplicas: int32(len(replicas)), RunID: fmt.Sprintf("run%d", i)}}
	for _, r := range replicas {
		n.Info.Replicas = append(n.Info.Replicas, ReplicaLink{IP: redisIP(r), Port: 6379, State: "online", Offset: offset})
	}
	return n
}

func replicaNode(t hooks.Topology, i int, host string, port int32, offset int64) RedisNode {
	return RedisNode{Pod: t.Redis[i], Info: RedisInfo{Role: hooks.RoleReplica, MasterHost: host, MasterPort: port,
		LinkUp: host != "127.0.0.1" && host != foreignIP, Offset: offset, Keys: offset / 10, RunID: fmt.Sprintf("run%d", i)}}
}

// sentinelNode monitors host:port with the desired settings and knows the given peers.
func sentinelNode(t hooks.Topology, i int, host string, port int32) SentinelNode {
	s := SentinelNode{Pod: t.Sentinels[i], Master: &SentinelMaster{Name: t.MasterName, IP: host, Port: port,
		RunID: "run0", Flags: []string{"master"}, Quorum: 2, Fields: map[string]string{
			"quorum": "2", "down-after-milliseconds": "5000", "failover-timeout": "10000", "parallel-syncs": "2"}}}
	for j := range t.Redis {
		if redisIP(j) != host {
			s.Replicas = append(s.Replicas, SentinelPeer{IP: redisIP(j), Port: 6379, Flags: []string{"slave"},
				RunID: fmt.Sprintf("run%d", j), Priority: 100, Offset: 1000})
		}
	}
	for j := range t.Sentinels {
		if j != i {
			s.Sentinels = append(s.Sentinels, SentinelPeer{IP: sentinelIP(j), Port: 26379, Flags: []string{"sentinel"}})
		}
	}
	return s
}

func healthy() (hooks.Topology, Snapshot) {
	t := topo()
	o := Snapshot{Redis: []RedisNode{masterNode(t, 0, 1000, 1, 2),
		replicaNode(t, 1, redisIP(0), 6379, 1000), replicaNode(t, 2, redisIP(0), 6379, 1000)}}
	for i := range t.Sentinels {
		o.Sentinels = append(o.Sentinels, sentinelNode(t, i, redisIP(0), 6379))
	}
	return t, o
}

// fresh is a new RedisFailover: every redis a replica of the placeholder, every sentinel
// monitoring 127.0.0.1 (the rendered sentinel.conf before a master is known).
func fresh() (hooks.Topology, Snapshot) {
	t := topo()
	var o Snapshot
	for i := range t.Redis {
		o.Redis = append(o.Redis, replicaNode(t, i, "127.0.0.1", 1, 0))
	}
	for i := range t.Sentinels {
		s := sentinelNode(t, i, "127.0.0.1", 6379)
		s.Replicas, s.Sentinels, s.Master.RunID = nil, nil, ""
		o.Sentinels = append(o.Sentinels, s)
	}
	return t, o
}

func unreachable(n *RedisNode) { *n = RedisNode{Pod: n.Pod, Err: "dial tcp: connection refused"} }

func strs(acts []Action) []string {
	if len(acts) == 0 {
		return nil
	}
	out := make([]string, len(acts))
	for i, a := range acts {
		out[i] = a.String()
	}
	return out
}

func reasons(acts []Action) string {
	var b strings.Builder
	for _, a := range acts {
		fmt.Fprintf(&b, "%s: %s\n", a, a.Reason())
	}
	return b.String()
}

func monitorAll(t hooks.Topology, master int, remove bool) []string {
	return monitorOf(t, master, remove, 0, 1, 2)
}

// monitorOf is monitorAll for the sentinels of the given indexes only.
func monitorOf(t hooks.Topology, master int, remove bool, sentinels ...int) []string {
	var out []string
	for _, i := range sentinels {
		s := t.Sentinels[i]
		if remove {
			out = append(out, "sentinel remove "+s.Name)
		}
		out = append(out,
			fmt.Sprintf("sentinel monitor %s %s:6379 quorum 2 (rfr-a-%d)", s.Name, redisIP(master), master),
			fmt.Sprintf("sentinel set %s down-after-milliseconds \"5000\"", s.Name),
			fmt.Sprintf("sentinel set %s failover-timeout \"10000\"", s.Name),
			fmt.Sprintf("sentinel set %s parallel-syncs \"2\"", s.Name))
	}
	return out
}

func TestPlan(t *testing.T) {
	runPlanCases(t, []planCase{
		{name: "healthy: nothing to do", edit: func(*hooks.Topology, *Snapshot) {}},
		{name: "rule 1: failover in progress, do nothing even with drift", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1] = replicaNode(*t, 1, foreignIP, 6379, 10)
			o.Sentinels[2].Master = nil
			o.Sentinels[0].Master.Flags = []string{"master", "s_down", "o_down", "failover_in_progress"}
			o.Sentinels[0].Master.FailoverState = "wait_start"
		}},
		{name: "rule 2+5: sentinel-agreed master kept, other master demoted with its offset", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[2] = masterNode(*t, 2, 1500)
		}, want: []string{"replicaof rfr-a-2 10.0.0.10:6379 (rfr-a-0)"},
			reason: "split brain: rfr-a-2 is also a master (offset 1500, 150 keys, 0 replicas); keeping rfr-a-0 (offset 1000): 3 sentinels agree on rfr-a-0"},
		{name: "rule 7: a sentinel lagging behind an agreed failover is left to Sentinel", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[0].Master.ConfigEpoch = 3
			o.Sentinels[1].Master.ConfigEpoch = 3
			o.Sentinels[2] = sentinelNode(*t, 2, redisIP(2), 6379) // the old master, epoch 0, knows rfr-a-0
		}},
		{name: "rule 7: a lagging sentinel that does not know the new master is re-pointed", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[0].Master.ConfigEpoch = 3
			o.Sentinels[1].Master.ConfigEpoch = 3
			o.Sentinels[2] = sentinelNode(*t, 2, redisIP(2), 6379)
			o.Sentinels[2].Replicas = nil // it never discovered the replicas: no hello reaches it
		}, want: []string{"sentinel remove rfs-a-z", "sentinel monitor rfs-a-z 10.0.0.10:6379 quorum 2 (rfr-a-0)",
			"sentinel set rfs-a-z down-after-milliseconds \"5000\"", "sentinel set rfs-a-z failover-timeout \"10000\"",
			"sentinel set rfs-a-z parallel-syncs \"2\""}},
		{name: "rule 2: agreement needs a quorum, a minority sentinel is re-pointed", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[2] = sentinelNode(*t, 2, redisIP(1), 6379)
		}, want: []string{"sentinel remove rfs-a-z", "sentinel monitor rfs-a-z 10.0.0.10:6379 quorum 2 (rfr-a-0)",
			"sentinel set rfs-a-z down-after-milliseconds \"5000\"", "sentinel set rfs-a-z failover-timeout \"10000\"",
			"sentinel set rfs-a-z parallel-syncs \"2\""},
			reason: "monitors 10.0.0.11:6379, not the master rfr-a-0"},
		{name: "rule 3: no agreement, the only master with replicas is kept and sentinels pointed at it", edit: func(t *hooks.Topology, o *Snapshot) {
			_, f := fresh()
			o.Sentinels = f.Sentinels
		}, want: monitorAll(topo(), 0, true), reason: "monitors 127.0.0.1:6379, not the master rfr-a-0"},
		{name: "rule 4 + boot: fresh start promotes the lowest ordinal", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
		}, want: append([]string{"promote rfr-a-0",
			"replicaof rfr-a-1 10.0.0.10:6379 (rfr-a-0)", "replicaof rfr-a-2 10.0.0.10:6379 (rfr-a-0)"},
			monitorAll(topo(), 0, true)...),
			reason: "no master: rfr-a-0 holds the most data (offset 0, 0 keys)"},
		{name: "rule 4: the highest offset is promoted, never the empty node", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0) // restarted empty
			o.Redis[1] = replicaNode(*t, 1, "10.0.0.99", 6379, 500)
			o.Redis[2] = replicaNode(*t, 2, "10.0.0.99", 6379, 700)
		}, want: append([]string{"promote rfr-a-2",
			"replicaof rfr-a-0 10.0.0.12:6379 (rfr-a-2)", "replicaof rfr-a-1 10.0.0.12:6379 (rfr-a-2)"},
			monitorAll(topo(), 2, true)...),
			reason: "no master: rfr-a-2 holds the most data (offset 700, 70 keys)"},
		{name: "rule 4: ties go to the lowest ordinal that is not terminating", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Redis[0].Pod.Terminating = true
			o.Sentinels = nil
		}, want: []string{"promote rfr-a-1", "replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)",
			"replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}},
		{name: "rule 4: unreachable nodes are skipped", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Sentinels = nil
			unreachable(&o.Redis[0])
			unreachable(&o.Redis[1])
		}, want: []string{"promote rfr-a-2"}},
		{name: "rule 4 + boot: a lower ordinal started 2 s ago does not answer yet: wait for it", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Sentinels = nil
			o.Time = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			unreachable(&o.Redis[0])
			o.Redis[0].Pod.Started = o.Time.Add(-2 * time.Second)
		}, want: []string{"wait"}, reason: "waiting up to 20s from its start for rfr-a-0, so that the first master has the lowest ordinal"},
		{name: "rule 4 + boot: a lower ordinal started 20 s ago and still silent is not waited for", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Sentinels = nil
			o.Time = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			unreachable(&o.Redis[0])
			o.Redis[0].Pod.Started = o.Time.Add(-20 * time.Second)
		}, want: []string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}},
		{name: "rule 4 + boot: a pending lower ordinal (no start time) is not waited for", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Sentinels = nil
			o.Time = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			unreachable(&o.Redis[0])
		}, want: []string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}},
		{name: "rule 4: a node holds data: promoted at once, whatever boots below it", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Sentinels = nil
			o.Time = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			unreachable(&o.Redis[0])
			o.Redis[0].Pod.Started = o.Time.Add(-2 * time.Second)
			o.Redis[1] = replicaNode(*t, 1, "10.0.0.99", 6379, 500)
		}, want: []string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}},
		{name: "rule 4 + boot: a terminating lower ordinal is not waited for", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Sentinels = nil
			o.Time = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
			unreachable(&o.Redis[0])
			o.Redis[0].Pod.Started = o.Time.Add(-2 * time.Second)
			o.Redis[0].Pod.Terminating = true
		}, want: []string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}},
		{name: "rule 4: sentinels agree on an unreachable pod, so Sentinel acts: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			unreachable(&o.Redis[0])
			o.Redis[1].Info.LinkUp = false
			o.Redis[2].Info.LinkUp = false
		}},
		{name: "rule 4: sentinels agree on an unreachable pod but know no replica: the healer promotes", edit: func(t *hooks.Topology, o *Snapshot) {
			unreachable(&o.Redis[0])
			o.Redis[1].Info.LinkUp, o.Redis[1].Info.Offset = false, 900
			o.Redis[2].Info.LinkUp = false
			for i := range o.Sentinels {
				o.Sentinels[i].Replicas = nil // monitored just before the master died
			}
		}, want: append([]string{"promote rfr-a-2", "replicaof rfr-a-1 10.0.0.12:6379 (rfr-a-2)"}, monitorAll(topo(), 2, true)...),
			reason: "no master: rfr-a-2 holds the most data (offset 1000, 100 keys)"},
		{name: "rule 4: nothing reachable, nothing to do", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			for i := range o.Redis {
				unreachable(&o.Redis[i])
			}
		}},
		{name: "rule 5 without agreement: the master with most replicas wins", edit: func(t *hooks.Topology, o *Snapshot) {
			_, f := fresh()
			o.Sentinels = f.Sentinels[:1] // below quorum
			o.Redis[0] = masterNode(*t, 0, 2000)
			o.Redis[1] = masterNode(*t, 1, 1000, 2)
			o.Redis[2] = replicaNode(*t, 2, redisIP(1), 6379, 1000)
		}, want: []string{"replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)", "sentinel remove rfs-a-x",
			"sentinel monitor rfs-a-x 10.0.0.11:6379 quorum 2 (rfr-a-1)", "sentinel set rfs-a-x down-after-milliseconds \"5000\"",
			"sentinel set rfs-a-x failover-timeout \"10000\"", "sentinel set rfs-a-x parallel-syncs \"2\""},
			reason: "split brain: rfr-a-0 is also a master (offset 2000, 200 keys, 0 replicas)"},
		{name: "rule 5 without agreement and no replicas: highest offset wins", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels = nil
			t.Sentinels = nil
			o.Redis[0] = masterNode(*t, 0, 100)
			o.Redis[1] = masterNode(*t, 1, 300)
			o.Redis[2] = masterNode(*t, 2, 200)
		}, want: []string{"replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}},
		{name: "rule 6: a replica of a foreign master is re-pointed at once", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1] = replicaNode(*t, 1, foreignIP, 6379, 5000)
		}, want: []string{"replicaof rfr-a-1 10.0.0.10:6379 (rfr-a-0)"},
			reason: "replicates 10.9.9.9:6379, which is not a pod of this RedisFailover"},
		{name: "rule 6: a pod IP with another port is not a pod", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1] = replicaNode(*t, 1, redisIP(0), 6380, 1000)
		}, want: []string{"replicaof rfr-a-1 10.0.0.10:6379 (rfr-a-0)"}, reason: "not a pod of this RedisFailover"},
		{name: "rule 6: a chained replica is pointed at the master", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[2] = replicaNode(*t, 2, redisIP(1), 6379, 1000)
		}, want: []string{"replicaof rfr-a-2 10.0.0.10:6379 (rfr-a-0)"}, reason: "replicates rfr-a-1, which is not the master"},
		{name: "boot: a restarted replica of the placeholder rejoins", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[2] = replicaNode(*t, 2, "127.0.0.1", 1, 0)
		}, want: []string{"replicaof rfr-a-2 10.0.0.10:6379 (rfr-a-0)"}, reason: "booted as a replica of the placeholder 127.0.0.1:1"},
		{name: "rule 3: a lone empty master is not kept while a replica holds more data", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels = nil
			t.Sentinels = nil
			o.Redis[0] = masterNode(*t, 0, 0)
			o.Redis[1] = replicaNode(*t, 1, redisIP(0), 6379, 900)
			o.Redis[1].Info.LinkUp = false
			o.Redis[2] = replicaNode(*t, 2, redisIP(0), 6379, 800)
		}, want: []string{"promote rfr-a-1", "replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}},
		{name: "rule 7: a sentinel restarted empty is re-monitored with its settings", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[1].Master, o.Sentinels[1].Replicas, o.Sentinels[1].Sentinels = nil, nil, nil
		}, want: []string{"sentinel monitor rfs-a-y 10.0.0.10:6379 quorum 2 (rfr-a-0)",
			"sentinel set rfs-a-y down-after-milliseconds \"5000\"", "sentinel set rfs-a-y failover-timeout \"10000\"",
			"sentinel set rfs-a-y parallel-syncs \"2\""}, reason: "monitors nothing"},
		{name: "rule 7 with auth: auth-pass is set, redacted", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Password = hooks.NewSecret("s3cret")
			t.SentinelConfig = nil
			o.Sentinels[1].Master = nil
		}, want: []string{"sentinel monitor rfs-a-y 10.0.0.10:6379 quorum 2 (rfr-a-0)",
			"sentinel set rfs-a-y auth-pass [redacted]"}},
		{name: "rule 8: stale entries reset one sentinel", edit: func(t *hooks.Topology, o *Snapshot) {
			for i := range o.Sentinels {
				o.Sentinels[i].Replicas = append(o.Sentinels[i].Replicas, SentinelPeer{IP: "10.0.0.99", Port: 6379})
			}
			o.Sentinels[2].Sentinels = append(o.Sentinels[2].Sentinels, SentinelPeer{IP: "10.0.1.99", Port: 26379,
				Flags: []string{"s_down", "sentinel", "disconnected"}})
		}, want: []string{"sentinel reset rfs-a-x"}, reason: "knows 3 replicas and 2 sentinels, stale: replica 10.0.0.99:6379"},
		{name: "rule 8: a sentinel with a stale sentinel entry is reset", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[2].Sentinels = append(o.Sentinels[2].Sentinels, SentinelPeer{IP: "10.0.1.1", Port: 0})
		}, want: []string{"sentinel reset rfs-a-z"}, reason: "stale: sentinel 10.0.1.1:0"},
		{name: "rule 8: entries Sentinel would rediscover at once are not reset", edit: func(t *hooks.Topology, o *Snapshot) {
			// A foreign replica still connected to the master, a foreign sentinel that answers.
			o.Redis[0].Info.Replicas = append(o.Redis[0].Info.Replicas, ReplicaLink{IP: "10.0.0.77", Port: 6379, State: "online"})
			for i := range o.Sentinels {
				o.Sentinels[i].Replicas = append(o.Sentinels[i].Replicas, SentinelPeer{IP: "10.0.0.77", Port: 6379})
				o.Sentinels[i].Sentinels = append(o.Sentinels[i].Sentinels, SentinelPeer{IP: "10.0.1.77", Port: 26379,
					Flags: []string{"sentinel"}})
			}
		}},
		{name: "rule 8: no reset until every sentinel has rediscovered the replicas", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[0].Replicas = o.Sentinels[0].Replicas[:1] // just reset: rediscovering
			o.Sentinels[2].Replicas = append(o.Sentinels[2].Replicas, SentinelPeer{IP: "10.0.0.99", Port: 6379})
		}},
		{name: "rule 8: no reset until every sentinel has rediscovered its peers", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[0].Sentinels = nil
			o.Sentinels[2].Replicas = append(o.Sentinels[2].Replicas, SentinelPeer{IP: "10.0.0.99", Port: 6379})
		}},
		{name: "rule 8: no reset while another sentinel is re-monitored", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[0].Master = nil
			o.Sentinels[0].Replicas, o.Sentinels[0].Sentinels = nil, nil
			o.Sentinels[2].Replicas = append(o.Sentinels[2].Replicas, SentinelPeer{IP: "10.0.0.99", Port: 6379})
		}, want: []string{"sentinel monitor rfs-a-x 10.0.0.10:6379 quorum 2 (rfr-a-0)",
			"sentinel set rfs-a-x down-after-milliseconds \"5000\"", "sentinel set rfs-a-x failover-timeout \"10000\"",
			"sentinel set rfs-a-x parallel-syncs \"2\""}},
		{name: "rule 9: redis config set only where it differs", edit: func(t *hooks.Topology, o *Snapshot) {
			t.RedisConfig = []hooks.ConfigEntry{{Key: "maxmemory", Value: "100mb"}, {Key: "maxmemory-policy", Value: "allkeys-lru"},
				{Key: "save", Value: `""`}}
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"maxmemory": "104857600", "maxmemory-policy": "allkeys-lru", "save": ""}
			}
			o.Redis[1].Config["maxmemory-policy"] = "noeviction"
			o.Redis[2].Config["save"] = "3600 1"
		}, want: []string{`config set rfr-a-1 maxmemory-policy "allkeys-lru"`, `config set rfr-a-2 save ""`},
			reason: `is "noeviction", want "allkeys-lru"`},
		{name: "rule 9: unknown config (CONFIG GET failed) is never written", edit: func(t *hooks.Topology, o *Snapshot) {
			t.RedisConfig = []hooks.ConfigEntry{{Key: "maxmemory", Value: "100mb"}}
			o.Redis[0].Config = map[string]string{"maxmemory": "0"}
			o.Redis[1].ConfigErr = "ERR unknown command 'CONFIG'"
		}, want: []string{`config set rfr-a-0 maxmemory "100mb"`}},
		{name: "rule 9: sentinel settings set only where they differ", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[1].Master.Fields["down-after-milliseconds"] = "30000"
			o.Sentinels[2].Master.Fields["quorum"] = "1"
		}, want: []string{`sentinel set rfs-a-y down-after-milliseconds "5000"`, `sentinel set rfs-a-z quorum "2"`},
			reason: `is "30000", want "5000"`},
		{name: "rule 10: bootstrap follows the external node", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Bootstrap = &hooks.Endpoint{Host: "192.0.2.7", Port: 6379}
			t.SentinelConfig = nil
			o.Redis[1] = replicaNode(*t, 1, "192.0.2.7", 6379, 10)
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"replica-priority": "100"}
			}
			o.Redis[1].Config["replica-priority"] = "0"
		}, want: []string{"replicaof rfr-a-0 192.0.2.7:6379", "config set rfr-a-0 replica-priority \"0\"",
			"replicaof rfr-a-2 192.0.2.7:6379", "config set rfr-a-2 replica-priority \"0\"",
			"sentinel remove rfs-a-x", "sentinel monitor rfs-a-x 192.0.2.7:6379 quorum 2",
			"sentinel remove rfs-a-y", "sentinel monitor rfs-a-y 192.0.2.7:6379 quorum 2",
			"sentinel remove rfs-a-z", "sentinel monitor rfs-a-z 192.0.2.7:6379 quorum 2"},
			reason: "bootstrap mode"},
		{name: "rule 10: bootstrap without sentinels leaves them alone", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Bootstrap = &hooks.Endpoint{Host: "192.0.2.7", Port: 6379}
			t.SentinelsEnabled = false
			for i := range o.Redis {
				o.Redis[i] = replicaNode(*t, i, "192.0.2.7", 6379, 10)
				o.Redis[i].Config = map[string]string{"replica-priority": "0"}
			}
		}},
		{name: "rule 11: the sentinels' master restarted as a replica of the placeholder: failover now", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			o.Redis[1].Info.LinkUp = false
			o.Redis[2].Info.LinkUp = false
		}, want: []string{"sentinel failover rfs-a-x"},
			reason: "3 sentinels agree on rfr-a-0: master rfr-a-0 restarted as a replica of 127.0.0.1:1 (offset 0) while rfr-a-1 holds more data (offset 1000)"},
		{name: "rule 11: failover asked of a sentinel that agrees and is not in TILT", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			o.Sentinels[0].Info.Tilt = true
		}, want: []string{"sentinel failover rfs-a-y"}},
		{name: "rule 11: a replica holds as much data: failover too, never a second master beside Sentinel's", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 1000)
		}, want: []string{"sentinel failover rfs-a-x"},
			reason: "master rfr-a-0 restarted as a replica of 127.0.0.1:1 (offset 1000) while rfr-a-1 holds as much data (offset 1000)"},
		{name: "rule 11: it holds more than every replica: the sentinels' master is promoted back", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 1500)
		}, want: []string{"promote rfr-a-0"}, reason: "which restarted as a replica of 127.0.0.1:1 and holds more data (offset 1500) than any replica"},
		{name: "rule 11: it has no replica: promoted back", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			unreachable(&o.Redis[1])
			unreachable(&o.Redis[2])
		}, want: []string{"promote rfr-a-0"}},
		{name: "rule 11: the sentinels' master restarted empty as master: failover now", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = masterNode(*t, 0, 0)
			o.Redis[0].Info.RunID = "new-run"
		}, want: []string{"sentinel failover rfs-a-x"}, reason: "master rfr-a-0 restarted (run id new-run, sentinels knew run0)"},
		{name: "rule 11: a sentinel holds the restarted master down: no SENTINEL FAILOVER beside its own, steer", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			o.Redis[2].Info.Offset = 1200
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"replica-priority": "100"}
			}
			o.Sentinels[1].Master.Flags = []string{"master", "o_down"}
		}, want: []string{"replica-priority rfr-a-2 1"}},
		{name: "rule 11: held down, priorities already steered: wait for Sentinel", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			o.Redis[2].Info.Offset = 1200
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"replica-priority": "100"}
			}
			o.Redis[2].Config["replica-priority"] = "1"
			o.Sentinels[1].Master.Flags = []string{"master", "s_down"}
		}, want: []string{"wait"}, reason: "rfs-a-y holds it down, and may be failing over already"},
		{name: "rule 11: same run id, no failover", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0].Info.Offset = 0
		}},
		{name: "rule 11: failover asked of the sentinel that knows a replica to promote", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			o.Sentinels[0].Replicas = nil
			o.Sentinels[1].Replicas[0].Flags = []string{"slave", "s_down"}
			o.Sentinels[1].Replicas = o.Sentinels[1].Replicas[:1]
		}, want: []string{"sentinel failover rfs-a-z"}},
		{name: "rule 11: failover asked of a sentinel that knows the replica with the most data", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			o.Redis[2].Info.Offset = 1200
			o.Sentinels[0].Replicas = o.Sentinels[0].Replicas[:1] // rfr-a-1 only
			o.Sentinels[1].Replicas[1].Offset = 1200              // rfs-a-y read rfr-a-2's offset
		}, want: []string{"sentinel failover rfs-a-y"}},
		{name: "rule 11: no sentinel knows a replica (NOGOODSLAVE): the healer promotes the data, never the empty node", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			o.Redis[1].Info.LinkUp = false
			o.Redis[2].Info.LinkUp = false
			for i := range o.Sentinels {
				o.Sentinels[i].Replicas = nil
			}
		}, want: append([]string{"promote rfr-a-1", "replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)",
			"replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, monitorAll(topo(), 1, true)...),
			reason: "no sentinel can fail over to it (in TILT or not knowing it as a reachable replica): promoting rfr-a-1"},
		{name: "rule 11: every agreeing sentinel in TILT: the healer promotes the data, never the empty node", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
			for i := range o.Sentinels {
				o.Sentinels[i].Info.Tilt = true
			}
		}, want: append([]string{"promote rfr-a-1", "replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)",
			"replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, monitorAll(topo(), 1, true)...),
			reason: "master rfr-a-0 restarted as a replica of 127.0.0.1:1 (offset 0) while rfr-a-1 holds more data"},
		{name: "rule 11: restarted empty as master and no sentinel can fail over: the healer promotes and demotes it", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = masterNode(*t, 0, 0)
			o.Redis[0].Info.RunID = "new-run"
			for i := range o.Sentinels {
				o.Sentinels[i].Replicas = nil
			}
		}, want: append([]string{"promote rfr-a-1", "replicaof rfr-a-0 10.0.0.11:6379 (rfr-a-1)",
			"replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, monitorAll(topo(), 1, true)...),
			reason: "master rfr-a-0 restarted (run id new-run, sentinels knew run0)"},
		{name: "rule 4: master unreachable, quorum but no majority of the sentinels Sentinel knows: the healer promotes", edit: func(t *hooks.Topology, o *Snapshot) {
			unreachable(&o.Redis[0])
			o.Redis[1].Info.LinkUp = false
			o.Redis[2].Info.LinkUp, o.Redis[2].Info.Offset = false, 900
			o.Sentinels[2] = SentinelNode{Pod: t.Sentinels[2], Err: "timeout"}
			for i := 0; i < 2; i++ { // two stale peers: 5 voters, a leader needs 3 votes
				o.Sentinels[i].Sentinels = append(o.Sentinels[i].Sentinels,
					SentinelPeer{IP: "10.0.1.50", Port: 26379, Flags: []string{"sentinel", "s_down"}},
					SentinelPeer{IP: "10.0.1.51", Port: 26379, Flags: []string{"sentinel", "s_down"}})
			}
		}, want: append([]string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, monitorOf(topo(), 1, true, 0, 1)...),
			reason: "no master: rfr-a-1 holds the most data"},
		{name: "rule 4: master unreachable, only the sentinels in TILT know a replica: the healer promotes", edit: func(t *hooks.Topology, o *Snapshot) {
			unreachable(&o.Redis[0])
			o.Redis[1].Info.LinkUp = false
			o.Redis[2].Info.LinkUp = false
			o.Sentinels[0].Info.Tilt = true
			o.Sentinels[1].Replicas, o.Sentinels[2].Replicas = nil, nil
		}, want: append([]string{"promote rfr-a-1", "replicaof rfr-a-2 10.0.0.11:6379 (rfr-a-1)"}, monitorAll(topo(), 1, true)...)},
		{name: "rule 4: master unreachable, a majority monitors it and one sentinel knows a replica: wait for Sentinel", edit: func(t *hooks.Topology, o *Snapshot) {
			unreachable(&o.Redis[0])
			o.Redis[1].Info.LinkUp = false
			o.Redis[2].Info.LinkUp = false
			o.Sentinels[2] = SentinelNode{Pod: t.Sentinels[2], Err: "timeout"}
			o.Sentinels[1].Replicas = nil
		}},
		{name: "lagging sentinels: agreed pod is a replica of another pod, healer follows the real master", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0] = replicaNode(*t, 0, redisIP(1), 6379, 1000)
			o.Redis[1] = masterNode(*t, 1, 1000, 0, 2)
			o.Redis[2] = replicaNode(*t, 2, redisIP(1), 6379, 1000)
			o.Sentinels = o.Sentinels[:2]
		}, want: []string{"sentinel remove rfs-a-x", "sentinel monitor rfs-a-x 10.0.0.11:6379 quorum 2 (rfr-a-1)",
			"sentinel set rfs-a-x down-after-milliseconds \"5000\"", "sentinel set rfs-a-x failover-timeout \"10000\"",
			"sentinel set rfs-a-x parallel-syncs \"2\"", "sentinel remove rfs-a-y",
			"sentinel monitor rfs-a-y 10.0.0.11:6379 quorum 2 (rfr-a-1)",
			"sentinel set rfs-a-y down-after-milliseconds \"5000\"", "sentinel set rfs-a-y failover-timeout \"10000\"",
			"sentinel set rfs-a-y parallel-syncs \"2\""}},
		{name: "unreachable sentinels and redis get no action", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[1] = SentinelNode{Pod: t.Sentinels[1], Err: "timeout"}
			unreachable(&o.Redis[2])
		}},
		{name: "rule 13: the sentinels' master's pod is gone (force-deleted): Sentinel promotes, the healer steers", edit: func(t *hooks.Topology, o *Snapshot) {
			masterPodGone(t, o)
			o.Redis[1].Info.LinkUp, o.Redis[2].Info.LinkUp = false, false
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"replica-priority": "100"}
			}
		}, want: []string{"replica-priority rfr-a-2 1"}},
		{name: "rule 13: the sentinels' master's pod is gone, priorities steered: nothing, Sentinel fails over", edit: func(t *hooks.Topology, o *Snapshot) {
			masterPodGone(t, o)
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"replica-priority": "100"}
			}
			o.Redis[2].Config["replica-priority"] = "1"
		}},
		{name: "rule 13: the sentinels' master's pod is gone and Sentinel would promote less data: steer first", edit: func(t *hooks.Topology, o *Snapshot) {
			masterPodGone(t, o)
			for i := range o.Redis {
				o.Redis[i].Config = map[string]string{"replica-priority": "100"}
			}
			for i := range o.Sentinels {
				o.Sentinels[i].Replicas[0].Offset = 1000 // rfr-a-1, chosen before rfr-a-2 on an equal stale offset
			}
		}, want: []string{"replica-priority rfr-a-2 1"}},
		{name: "the sentinels agree on an address of no pod while one of ours is master: keep it (rule 3)", edit: func(t *hooks.Topology, o *Snapshot) {
			for i := range o.Sentinels {
				o.Sentinels[i].Master.IP = "10.0.0.77"
			}
		}, want: monitorAll(topo(), 0, true), reason: "monitors 10.0.0.77:6379, not the master rfr-a-0"},
		{name: "a sentinel monitoring a foreign address does not count as agreement", edit: func(t *hooks.Topology, o *Snapshot) {
			for i := range o.Sentinels {
				o.Sentinels[i].Master.IP = foreignIP
			}
		}, want: monitorAll(topo(), 0, true), reason: "monitors 10.9.9.9:6379, not the master rfr-a-0"},
	})
}

// planCase is one table case of Plan: an edit of the healthy topology and observation, the
// actions wanted and, when set, what the first action's reason must contain.
type planCase struct {
	name string
	// edit changes the healthy observation (or replaces it).
	edit func(t *hooks.Topology, o *Snapshot)
	want []string
	// reason, when set, must appear in the first action's reason.
	reason string
}

// runPlanCases checks each case, and of every action that it names its reason, carries no
// password, and that planning twice gives the same actions (Plan is pure).
func runPlanCases(t *testing.T, tests []planCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			top, o := healthy()
			tt.edit(&top, &o)
			got := Plan(top, o)
			assert.Equal(t, tt.want, strs(got), reasons(got))
			if tt.reason != "" {
				require.NotEmpty(t, got)
				assert.Contains(t, got[0].Reason(), tt.reason)
			}
			for _, a := range got {
				assert.NotContains(t, a.String(), "s3cret")
				assert.NotContains(t, a.Reason(), "s3cret")
				assert.NotEmpty(t, a.Reason(), a.String())
			}
			assert.Equal(t, got, Plan(top, o))
		})
	}
}

// TestPlanConverges applies the planned actions to the observation the way Redis would and
// checks that the next plan is empty: the rules do not fight each other.
func TestPlanConverges(t *testing.T) {
	for name, start := range map[string]func() (hooks.Topology, Snapshot){
		"fresh": fresh,
		"split brain": func() (hooks.Topology, Snapshot) {
			top, o := healthy()
			o.Redis[2] = masterNode(top, 2, 1500)
			return top, o
		},
		"foreign": func() (hooks.Topology, Snapshot) {
			top, o := healthy()
			o.Redis[1] = replicaNode(top, 1, foreignIP, 6379, 1)
			o.Sentinels[1].Master = nil
			return top, o
		},
	} {
		t.Run(name, func(t *testing.T) {
			top, o := start()
			for pass := 0; pass < 4; pass++ {
				acts := Plan(top, o)
				if len(acts) == 0 {
					return
				}
				simulate(top, &o, acts)
			}
			t.Fatalf("not converged after 4 passes: %v", strs(Plan(top, o)))
		})
	}
}

// simulate is a toy Redis/Sentinel: enough to check that plans converge.
func simulate(top hooks.Topology, o *Snapshot, acts []Action) {
	node := func(pod string) *RedisNode {
		for i := range o.Redis {
			if o.Redis[i].Pod.Name == pod {
				return &o.Redis[i]
			}
		}
		panic(pod)
	}
	sen := func(pod string) *SentinelNode {
		for i := range o.Sentinels {
			if o.Sentinels[i].Pod.Name == pod {
				return &o.Sentinels[i]
			}
		}
		panic(pod)
	}
	for _, a := range acts {
		switch a := a.(type) {
		case Promote:
			n := node(a.Pod)
			n.Info.Role, n.Info.MasterHost, n.Info.MasterPort = hooks.RoleMaster, "", 0
		case ReplicaOf:
			n := node(a.Pod)
			n.Info.Role, n.Info.MasterHost, n.Info.MasterPort, n.Info.LinkUp = hooks.RoleReplica, a.Master.Host, a.Master.Port, true
		case SentinelRemove:
			sen(a.Sentinel).Master = nil
		case SentinelMonitor:
			s := sen(a.Sentinel)
			s.Master = &SentinelMaster{Name: top.MasterName, IP: a.Master.Host, Port: a.Master.Port, Fields: map[string]string{}}
		case SentinelSet:
			sen(a.Sentinel).Master.Fields[a.Key] = a.Value
		}
	}
	// Masters count their replicas; sentinels rediscover.
	for i := range o.Redis {
		m := &o.Redis[i]
		if m.Info.Role != hooks.RoleMaster {
			continue
		}
		m.Info.Replicas, m.Info.ConnectedReplicas = nil, 0
		for _, r := range o.Redis {
			if r.Info.Role == hooks.RoleReplica && r.Info.MasterHost == m.Pod.IP {
				m.Info.Replicas = append(m.Info.Replicas, ReplicaLink{IP: r.Pod.IP, Port: 6379, State: "online"})
				m.Info.ConnectedReplicas++
			}
		}
	}
	for i := range o.Sentinels {
		s := &o.Sentinels[i]
		if s.Master == nil {
			continue
		}
		fresh := sentinelNode(top, i, s.Master.IP, s.Master.Port)
		s.Replicas, s.Sentinels = fresh.Replicas, fresh.Sentinels
	}
}

// masterPodGone: the master's pod 0 was replaced (force-deleted): the new one has another IP and
// booted on the placeholder; the sentinels still agree on the old address, which no pod has now,
// and the replicas still name it; rfr-a-2 holds the most data.
func masterPodGone(t *hooks.Topology, o *Snapshot) {
	gone := redisIP(0)
	t.Redis[0].IP = "10.0.0.99"
	o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
	o.Redis[1] = replicaNode(*t, 1, gone, 6379, 1000)
	o.Redis[2] = replicaNode(*t, 2, gone, 6379, 1200)
}

// rollout edits a healthy topology into a rollout: the pods of the given ordinals are on the
// StatefulSet's update revision, the others not; every node reports replica-priority 100.
func rollout(updated ...int) func(t *hooks.Topology, o *Snapshot) {
	return func(t *hooks.Topology, o *Snapshot) {
		t.RedisReplicas = int32(len(t.Redis))
		for i := range t.Redis {
			t.Redis[i].Outdated = !slices.Contains(updated, i)
			o.Redis[i].Pod = t.Redis[i]
			o.Redis[i].Config = map[string]string{"replica-priority": "100"}
		}
	}
}

// masterAt makes pod i the master the sentinels agree on, the others its replicas.
func masterAt(t *hooks.Topology, o *Snapshot, i int) {
	var replicas []int
	for j := range t.Redis {
		if j != i {
			replicas = append(replicas, j)
		}
	}
	for j := range t.Redis {
		cfg := o.Redis[j].Config
		if j == i {
			o.Redis[j] = masterNode(*t, j, 1000, replicas...)
		} else {
			o.Redis[j] = replicaNode(*t, j, redisIP(i), 6379, 1000)
		}
		o.Redis[j].Config = cfg
	}
	for s := range o.Sentinels {
		o.Sentinels[s] = sentinelNode(*t, s, redisIP(i), 6379)
	}
}

// sentinelsRead sets the priority every sentinel last read for pod i.
func sentinelsRead(o *Snapshot, i int, priority int64) {
	for s := range o.Sentinels {
		for r := range o.Sentinels[s].Replicas {
			if o.Sentinels[s].Replicas[r].IP == redisIP(i) {
				o.Sentinels[s].Replicas[r].Priority = priority
			}
		}
	}
}

func TestPlanSwitchover(t *testing.T) {
	then := func(edits ...func(t *hooks.Topology, o *Snapshot)) func(t *hooks.Topology, o *Snapshot) {
		return func(t *hooks.Topology, o *Snapshot) {
			for _, e := range edits {
				e(t, o)
			}
		}
	}
	runPlanCases(t, []planCase{
		{name: "rule 14: every pod above the outdated master is updated: steer Sentinel to one", edit: rollout(1, 2),
			want: []string{"replica-priority rfr-a-1 1"}, reason: "rollout: every pod above the master rfr-a-0 is updated and Ready"},
		{name: "rule 14: steered and read by a sentinel: switch over", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1].Config["replica-priority"] = "1"
			sentinelsRead(o, 1, 1)
		}), want: []string{"switchover rfr-a-0 to rfr-a-1 (rfs-a-x)"}},
		{name: "rule 14: steered, not read by any sentinel yet: wait", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1].Config["replica-priority"] = "1"
			for s := range o.Sentinels {
				o.Sentinels[s].Replicas[1].Offset = 1100 // each would pick rfr-a-2 on what it last read
			}
		}), want: []string{"wait"}},
		{name: "rule 14: a pod above the master is not updated yet: nothing", edit: rollout(2)},
		{name: "rule 14: a pod above the master is updated but not Ready: nothing", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			t.Redis[1].Ready, o.Redis[1].Pod.Ready = false, false
		})},
		{name: "rule 14: a pod above the master is missing (being replaced): nothing", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			t.Redis, o.Redis = t.Redis[:2], o.Redis[:2]
		})},
		{name: "rule 14: the updated master stays", edit: then(rollout(0))},
		{name: "rule 14: the outdated master on the highest ordinal goes first to the replica first in election order", edit: then(rollout(), func(t *hooks.Topology, o *Snapshot) {
			masterAt(t, o, 2)
		}), want: []string{"replica-priority rfr-a-0 1"}, reason: "is on the highest ordinal"},
		{name: "rule 14: a terminating master: switch over at once to the replica a sentinel would pick, without steering", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			for s := range o.Sentinels {
				o.Sentinels[s].Replicas[1].Offset = 1100 // each would pick rfr-a-2 on what it last read
			}
		}), want: []string{"switchover rfr-a-0 to rfr-a-2 (rfs-a-x)"}, reason: "the master's pod rfr-a-0 is terminating"},
		{name: "rule 14: a terminating master: through a sentinel that knows no removed replica", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			removed(o, 0, 1)
		}, want: []string{"switchover rfr-a-0 to rfr-a-1 (rfs-a-z)"}},
		{name: "rule 14: steered and read: through a sentinel that knows no removed replica", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1].Config["replica-priority"] = "1"
			sentinelsRead(o, 1, 1)
			removed(o, 0)
		}), want: []string{"switchover rfr-a-0 to rfr-a-1 (rfs-a-y)"}},
		{name: "rule 14: every sentinel knows a removed replica: through the first", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			removed(o, 0, 1, 2)
		}, want: []string{"switchover rfr-a-0 to rfr-a-1 (rfs-a-x)"}},
		{name: "rule 14: a terminating master, not outdated and no rollout: switch over", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
		}, want: []string{"switchover rfr-a-0 to rfr-a-1 (rfs-a-x)"}, reason: "is terminating"},
		{name: "rule 14: a terminating master under a plain rollout: switch over", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			t.PlainRollout = true
		}), want: []string{"switchover rfr-a-0 to rfr-a-1 (rfs-a-x)"}},
		{name: "rule 14: a terminating master, the sentinels' pick lags (link down): left to its preStop hook", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			o.Redis[1].Info.LinkUp = false
		}},
		{name: "rule 14: a terminating master, the sentinels' pick terminates too: left to its preStop hook", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			t.Redis[1].Terminating, o.Redis[1].Pod.Terminating = true, true
		}},
		{name: "rule 14: a terminating master, the sentinels' pick leaves with a scale-down: left to its preStop hook", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			t.RedisReplicas = 1
		}},
		{name: "rule 14: a terminating master with the user's own preStop hook (shutdownConfigMap): left to it", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			t.CustomShutdown = true
		}},
		{name: "rule 14: a terminating master a sentinel holds down: no second failover beside Sentinel's", edit: func(t *hooks.Topology, o *Snapshot) {
			t.Redis[0].Terminating, o.Redis[0].Pod.Terminating = true, true
			o.Sentinels[2].Master.Flags = append(o.Sentinels[2].Master.Flags, "s_down")
		}},
		{name: "rule 14: a replica that lags (link down) is no target", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1].Info.LinkUp = false
			o.Redis[2].Info.LinkUp = false
		})},
		{name: "rule 14: scale-down removes the master's pod: switch over to one that stays", edit: then(rollout(0, 1, 2), func(t *hooks.Topology, o *Snapshot) {
			masterAt(t, o, 2)
			t.RedisReplicas = 2
		}), want: []string{"replica-priority rfr-a-0 1"}, reason: "scaling down to 2 pods removes the master's pod rfr-a-2"},
		{name: "rule 14: plain rollout (redhook.io/rollout: rolling-update): no switchover for an outdated master", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			t.PlainRollout = true
		})},
		{name: "rule 14: plain rollout: no switchover when a scale-down removes the master's pod", edit: then(rollout(0, 1, 2), func(t *hooks.Topology, o *Snapshot) {
			masterAt(t, o, 2)
			t.RedisReplicas = 2
			t.PlainRollout = true
		})},
		{name: "rule 14: scale-down keeps the master's pod: nothing", edit: then(rollout(0, 1, 2), func(t *hooks.Topology, o *Snapshot) {
			t.RedisReplicas = 2
		})},
		{name: "rule 14: no switchover while a sentinel holds the master down", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1].Config["replica-priority"] = "1"
			sentinelsRead(o, 1, 1)
			o.Sentinels[2].Master.Flags = []string{"master", "s_down"}
		}), want: []string{"replica-priority rfr-a-1 100"}},
		{name: "rule 14: the steered target stays when another replica is a few bytes ahead", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			o.Redis[2].Config["replica-priority"] = "1"
			o.Redis[1].Info.Offset = 1001
			sentinelsRead(o, 2, 1)
		}), want: []string{"switchover rfr-a-0 to rfr-a-2 (rfs-a-x)"}},
		{name: "rule 14: the switchover waits while other actions run", edit: then(rollout(1, 2), func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1].Config["replica-priority"] = "1"
			sentinelsRead(o, 1, 1)
			o.Redis[0].Config = map[string]string{"replica-priority": "100", "maxmemory": "0"}
			t.RedisConfig = []hooks.ConfigEntry{{Key: "maxmemory", Value: "100mb"}}
			for i := range o.Redis {
				o.Redis[i].Config["maxmemory"] = "0"
			}
		}), want: []string{`config set rfr-a-0 maxmemory "100mb"`, `config set rfr-a-1 maxmemory "100mb"`, `config set rfr-a-2 maxmemory "100mb"`}},
	})
}

// removed makes the sentinels at the given indexes know a replica that a scale-down removed (no
// pod of the RedisFailover, not connected to the master, down), as until rule 8 resets them; and
// rfs-a-z has not rediscovered one of its peers yet (as after its reset), so rule 8 waits.
func removed(o *Snapshot, sentinels ...int) {
	for _, i := range sentinels {
		o.Sentinels[i].Replicas = append(o.Sentinels[i].Replicas, SentinelPeer{IP: "10.0.0.99", Port: 6379,
			Flags: []string{"slave", "s_down", "disconnected"}})
	}
	o.Sentinels[2].Sentinels = o.Sentinels[2].Sentinels[:1]
}

// TestPlanCloseMisdirected: the clients of a replica whose last command writes are closed,
// whatever else the pass does; readers, and clients of a master, are not.
func TestPlanCloseMisdirected(t *testing.T) {
	clients := []Client{{ID: 7, Cmd: "set", Write: true}, {ID: 8, Cmd: "get"}, {ID: 9, Cmd: "wait"},
		{ID: 10, Cmd: "xgroup|create", Write: true}, {ID: 11, Cmd: "client|list"}, {ID: 12, Cmd: "publish"}}
	runPlanCases(t, []planCase{
		{name: "writers of a replica closed, readers kept", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[2].Clients = clients
		}, want: []string{"close 3 clients of rfr-a-2 (last command set, wait, xgroup|create)"},
			reason: "clients write to a replica"},
		{name: "readers only: nothing", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[1].Clients = []Client{{ID: 8, Cmd: "get"}, {ID: 12, Cmd: "publish"}}
		}},
		{name: "a master's writers are its clients", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[0].Clients = clients
		}},
		{name: "closed while Sentinel fails over (rule 1)", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[0].Master.Flags = []string{"master", "s_down", "o_down", "failover_in_progress"}
			o.Sentinels[0].Master.FailoverState = "wait_start"
			o.Redis[1].Clients = clients[:1]
		}, want: []string{"close 1 clients of rfr-a-1 (last command set)"}},
		{name: "not on the replica the pass promotes", edit: func(t *hooks.Topology, o *Snapshot) {
			_, *o = fresh()
			o.Redis[0].Clients = clients[:1]
		}, want: append([]string{"promote rfr-a-0",
			"replicaof rfr-a-1 10.0.0.10:6379 (rfr-a-0)", "replicaof rfr-a-2 10.0.0.10:6379 (rfr-a-0)"},
			monitorAll(topo(), 0, true)...)},
		{name: "not on the replica a sentinel's failover promotes", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Sentinels[0].Master.Flags = []string{"master", "s_down", "o_down", "failover_in_progress"}
			o.Sentinels[0].Master.FailoverState = "wait_promotion"
			o.Sentinels[0].Replicas[0].Flags = []string{"slave", "promoted"} // rfr-a-1
			o.Redis[1].Clients = clients[:1]
		}},
		{name: "after the rules' own actions", edit: func(t *hooks.Topology, o *Snapshot) {
			o.Redis[2] = replicaNode(*t, 2, foreignIP, 6379, 1000)
			o.Redis[2].Clients = clients[:1]
		}, want: []string{"replicaof rfr-a-2 10.0.0.10:6379 (rfr-a-0)", "close 1 clients of rfr-a-2 (last command set)"}},
	})
}

// restartedSteered: the sentinels' master rfr-a-0 restarted empty as a replica of the
// placeholder, rfr-a-2 holds the most data and is already steered (priority 1, as every sentinel
// read it): rule 11 may ask for SENTINEL FAILOVER at once, unless Sentinel may be failing over
// (race.go), when it waits. Down-after 1000 ms; every sentinel heard from the node 100 ms ago.
func restartedSteered(t *hooks.Topology, o *Snapshot) {
	t.SentinelConfig[0].Value = "1000"
	o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
	o.Redis[2].Info.Offset = 1200
	for i := range o.Redis {
		o.Redis[i].Config = map[string]string{"replica-priority": "100"}
	}
	o.Redis[2].Config["replica-priority"] = "1"
	for i := range o.Sentinels {
		m := o.Sentinels[i].Master
		m.Fields["down-after-milliseconds"] = "1000"
		m.Fields["last-ping-sent"] = "0"
		m.Fields["role-reported"] = "slave"
		m.Fields["role-reported-time"] = "300"
		for j := range o.Sentinels[i].Replicas {
			if r := &o.Sentinels[i].Replicas[j]; r.IP == redisIP(2) {
				r.Priority, r.Offset = 1, 1200
			}
		}
	}
}

// TestPlanFailoverRace: no failover or promotion of the healer while Sentinel may be failing over
// or may start to (race.go), and rule 1's exception for a failover stalled without a master.
func TestPlanFailoverRace(t *testing.T) {
	field := func(i int, key, value string) func(*hooks.Topology, *Snapshot) {
		return func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Sentinels[i].Master.Fields[key] = value
		}
	}
	stalled := func(t *hooks.Topology, o *Snapshot) {
		// Two failovers promoted rfr-a-1 and rfr-a-2, which then replicate each other; the
		// restarted rfr-a-0 is empty.
		o.Redis[0] = replicaNode(*t, 0, "127.0.0.1", 1, 0)
		o.Redis[1] = replicaNode(*t, 1, redisIP(2), 6379, 1000)
		o.Redis[2] = replicaNode(*t, 2, redisIP(1), 6379, 1200)
		o.Sentinels[0].Master.Flags = []string{"master", "failover_in_progress"}
		o.Sentinels[0].Master.FailoverState = "reconf_slaves"
		o.Sentinels[0].Replicas[0].Flags = []string{"slave", "promoted"} // rfr-a-1
	}
	runPlanCases(t, []planCase{
		{name: "control: every sentinel heard from it lately, saw it a replica briefly: SENTINEL FAILOVER",
			edit: restartedSteered, want: []string{"sentinel failover rfs-a-x"}},
		{name: "a sentinel has waited half its down-after for a PING answer: wait", edit: field(1, "last-ping-sent", "500"),
			want: []string{"wait"}, reason: "rfs-a-y has waited 500 ms for an answer to its PING (down-after 1000 ms), and may be failing over already"},
		{name: "control: a PING answered long ago does not count", edit: field(1, "last-ok-ping-reply", "900"),
			want: []string{"sentinel failover rfs-a-x"}},
		{name: "a sentinel has no link to it: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Sentinels[2].Master.Flags = []string{"master", "disconnected"}
		}, want: []string{"wait"}, reason: "rfs-a-z has no link to it"},
		{name: "a sentinel has seen it a replica for down-after: wait", edit: field(0, "role-reported-time", "1000"),
			want: []string{"wait"}, reason: "rfs-a-x has seen it as a replica for 1000 ms (down-after 1000 ms)"},
		{name: "seen a master that long: no role timer", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Sentinels[0].Master.Fields["role-reported"] = "master"
			o.Sentinels[0].Master.Fields["role-reported-time"] = "50000"
		}, want: []string{"sentinel failover rfs-a-x"}},
		{name: "a peer told a sentinel that it is down, and still holds it down: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Sentinels[1].Sentinels[0].Flags = []string{"sentinel", "master_down"}
			o.Sentinels[0].Master.Flags = []string{"master", "s_down"}
		}, want: []string{"wait"}, reason: "rfs-a-x holds it down"},
		{name: "a peer the healer cannot read told a sentinel that it is down: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Sentinels[1].Sentinels[0].Flags = []string{"sentinel", "master_down"}
			o.Sentinels[0].Err = "dial tcp: connection refused"
		}, want: []string{"wait"}, reason: "rfs-a-y hears from 10.0.1.1 that it is down"},
		{name: "a peer told a sentinel that it was down, but holds it up again (restarted before a quorum agreed): SENTINEL FAILOVER",
			edit: func(t *hooks.Topology, o *Snapshot) {
				restartedSteered(t, o)
				o.Sentinels[1].Sentinels[0].Flags = []string{"sentinel", "master_down"}
			}, want: []string{"sentinel failover rfs-a-x"}},
		{name: "a vote for a leader in a newer epoch than the configuration: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Sentinels[2].Master.ConfigEpoch = 4
			o.Sentinels[2].Sentinels[1].VotedLeader, o.Sentinels[2].Sentinels[1].VotedLeaderEpoch = "b1e2", 5
		}, want: []string{"wait"}, reason: "rfs-a-z heard 10.0.1.2 vote for a failover leader in epoch 5 (configuration epoch 4)"},
		{name: "an old vote, of the epoch of the configuration: SENTINEL FAILOVER", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			for i := range o.Sentinels {
				o.Sentinels[i].Master.ConfigEpoch = 5
			}
			o.Sentinels[2].Sentinels[1].VotedLeader, o.Sentinels[2].Sentinels[1].VotedLeaderEpoch = "b1e2", 5
		}, want: []string{"sentinel failover rfs-a-x"}},
		{name: "a sentinel names another master in a newer configuration: a failover just ended, wait", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Sentinels[2].Master.IP, o.Sentinels[2].Master.ConfigEpoch = redisIP(2), 6
		}, want: []string{"wait"}, reason: "rfs-a-z names 10.0.0.12:6379 in a newer configuration (epoch 6 > 0)"},
		{name: "held down, but no sentinel could fail over (none knows a replica): the healer decides", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			for i := range o.Sentinels {
				o.Sentinels[i].Master.Flags = []string{"master", "s_down"}
				o.Sentinels[i].Replicas = nil
			}
		}, want: append([]string{"promote rfr-a-2", "replicaof rfr-a-0 10.0.0.12:6379 (rfr-a-2)", "replicaof rfr-a-1 10.0.0.12:6379 (rfr-a-2)"},
			append(strings.Split(strings.ReplaceAll(strings.Join(monitorAll(topo(), 2, true), "|"), "5000", "1000"), "|"),
				"replica-priority rfr-a-2 100")...),
			reason: "no sentinel can fail over to it"},
		{name: "restarted from its dump with more data than the replicas, held down: not promoted beside Sentinel's failover", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Redis[0].Info.Offset = 1500
			o.Sentinels[1].Master.Flags = []string{"master", "s_down"}
		}, want: []string{"wait"}, reason: "holds more data (offset 1500) than any replica; not promoting it: rfs-a-y holds it down"},
		{name: "restarted from its dump with more data, no sentinel may fail over: promoted back", edit: func(t *hooks.Topology, o *Snapshot) {
			restartedSteered(t, o)
			o.Redis[0].Info.Offset = 1500
		}, want: []string{"promote rfr-a-0", "replica-priority rfr-a-2 100"}},
		{name: "rule 1 exception: failover past its promotion and no master: promote the most data now", edit: stalled,
			want:   []string{"promote rfr-a-2", "replicaof rfr-a-0 10.0.0.12:6379 (rfr-a-2)"},
			reason: "Sentinel's failover promoted a replica that has been demoted since"},
		{name: "rule 1: failover before its promotion: wait for it", edit: func(t *hooks.Topology, o *Snapshot) {
			stalled(t, o)
			o.Sentinels[0].Master.FailoverState = "wait_promotion"
		}},
		{name: "rule 1: another sentinel's failover is still electing: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			stalled(t, o)
			o.Sentinels[1].Master.Flags = []string{"master", "s_down", "o_down", "failover_in_progress"}
			o.Sentinels[1].Master.FailoverState = "wait_start"
		}},
		{name: "rule 1: failover past its promotion, a pod does not answer (it may be the master): wait", edit: func(t *hooks.Topology, o *Snapshot) {
			stalled(t, o)
			unreachable(&o.Redis[2])
		}},
		{name: "rule 1: failover past its promotion, no replica flagged promoted: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			stalled(t, o)
			o.Sentinels[0].Replicas[0].Flags = []string{"slave"}
		}},
		{name: "rule 1: failover past its promotion, a sentinel does not answer (it may be promoting): wait", edit: func(t *hooks.Topology, o *Snapshot) {
			stalled(t, o)
			o.Sentinels[2] = SentinelNode{Pod: o.Sentinels[2].Pod, Err: "i/o timeout"}
		}},
		{name: "rule 1: failover past its promotion, another sentinel holds the replica it follows down: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			stalled(t, o)
			o.Sentinels[1] = sentinelNode(*t, 1, redisIP(1), 6379)
			o.Sentinels[1].Master.ConfigEpoch = 7
			o.Sentinels[1].Master.Flags = []string{"master", "s_down", "o_down"}
		}},
		{name: "rule 1: failover past its promotion with a master: Sentinel reconfigures the replicas", edit: func(t *hooks.Topology, o *Snapshot) {
			stalled(t, o)
			o.Redis[2] = masterNode(*t, 2, 1200, 1)
		}},
	})
}

// splitVote: every sentinel holds the restarted master down (role:slave for too long) and
// voted for itself in epoch 5, newer than the configuration (epoch 4); none fails over any more
// (each aborted: not elected).
func splitVote(t *hooks.Topology, o *Snapshot) {
	restartedSteered(t, o)
	for i := range o.Sentinels {
		s := &o.Sentinels[i]
		s.Master.Flags = []string{"master", "s_down", "o_down"}
		s.Master.ConfigEpoch = 4
		for j := range s.Sentinels {
			s.Sentinels[j].Flags = []string{"sentinel", "master_down"}
			s.Sentinels[j].VotedLeader, s.Sentinels[j].VotedLeaderEpoch = "self-"+s.Sentinels[j].IP, 5
		}
	}
}

// waitStart puts sentinel i in failover-state wait_start: waiting to be elected.
func waitStart(o *Snapshot, i int) {
	o.Sentinels[i].Master.Flags = append(o.Sentinels[i].Master.Flags, "failover_in_progress")
	o.Sentinels[i].Master.FailoverState = "wait_start"
}

// remonitoredAll is the end of the plan after a doomed election: every sentinel monitors rfr-a-2
// anew, with the settings of a new monitor.
var remonitoredAll = func() []string {
	var out []string
	for _, s := range []string{"rfs-a-x", "rfs-a-y", "rfs-a-z"} {
		out = append(out, "sentinel remove "+s, "sentinel monitor "+s+" 10.0.0.12:6379 quorum 2 (rfr-a-2)",
			"sentinel set "+s+` down-after-milliseconds "1000"`, "sentinel set "+s+` failover-timeout "10000"`,
			"sentinel set "+s+` parallel-syncs "2"`)
	}
	return out
}()

// promotedAfterDoomedElection is the plan after splitVote with candidates waiting: rfr-a-2 holds
// the most data; it is promoted, the others follow, every sentinel monitors it anew.
var promotedAfterDoomedElection = append([]string{"promote rfr-a-2", "replicaof rfr-a-0 10.0.0.12:6379 (rfr-a-2)",
	"replicaof rfr-a-1 10.0.0.12:6379 (rfr-a-2)"}, remonitoredAll...)

// TestPlanDoomedElection: every sentinel voted for itself in the newest epoch and the candidates
// wait for an election nobody can win (they would abort after failover-timeout, 10 s): the
// healer promotes at once, and only then.
func TestPlanDoomedElection(t *testing.T) {
	// doomed: every sentinel waits to be elected and voted for itself in epoch 5 (its own vote,
	// read from it); each knows its two peers by their run ids.
	doomed := func(t *hooks.Topology, o *Snapshot) {
		splitVote(t, o)
		for i := range o.Sentinels {
			s := &o.Sentinels[i]
			waitStart(o, i)
			s.Vote = &SentinelVote{Leader: "self-" + s.Pod.IP, Epoch: 5}
			s.Master.NumOtherSentinels = 2
			for j := range s.Sentinels {
				s.Sentinels[j].RunID = "self-" + s.Sentinels[j].IP
			}
		}
	}
	// vote sets sentinel i's own vote.
	vote := func(i int, vote *SentinelVote) func(*hooks.Topology, *Snapshot) {
		return func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[i].Vote = vote
		}
	}
	runPlanCases(t, []planCase{
		{name: "every candidate waits, every vote known and split: promote the most data, monitor it anew",
			edit: doomed, want: promotedAfterDoomedElection, reason: "election of a failover leader failed"},
		{name: "the old master does not answer: the replicas hold every confirmed write", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			unreachable(&o.Redis[0])
		}, want: append([]string{"promote rfr-a-2", "replicaof rfr-a-1 10.0.0.12:6379 (rfr-a-2)"}, remonitoredAll...)},
		{name: "a replica does not answer: it may hold more data, wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			unreachable(&o.Redis[1])
		}},
		{name: "two votes for one candidate: it is elected, wait", edit: vote(1, &SentinelVote{Leader: "self-" + sentinelIP(0), Epoch: 5})},
		{name: "a vote in an older epoch: that sentinel may still vote, wait", edit: vote(1, &SentinelVote{Leader: "self-" + sentinelIP(1), Epoch: 4})},
		{name: "a vote not read: wait", edit: vote(2, nil)},
		{name: "no vote yet: wait", edit: vote(2, &SentinelVote{Epoch: 4})},
		{name: "a vote for a sentinel the healer does not read: wait", edit: vote(2, &SentinelVote{Leader: "someone", Epoch: 5})},
		{name: "votes no newer than the configuration: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[1].Master.ConfigEpoch = 5
		}},
		{name: "the sentinels name different masters: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[1].Master.IP = redisIP(1)
		}},
		{name: "a candidate whose own quorum is 1 is elected by its own vote: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[0].Master.Quorum = 1
			o.Sentinels[0].Master.NumOtherSentinels = 0
		}},
		{name: "a live sentinel outside the topology: its vote is unknown, wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[0].Sentinels = append(o.Sentinels[0].Sentinels, SentinelPeer{IP: "10.0.1.99", Port: 26379,
				Flags: []string{"sentinel"}})
		}},
		{name: "a gone sentinel outside the topology does not count", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[0].Sentinels = append(o.Sentinels[0].Sentinels, SentinelPeer{IP: "10.0.1.99", Port: 26379,
				Flags: []string{"sentinel", "s_down", "disconnected"}})
		}, want: promotedAfterDoomedElection},
		{name: "a candidate past wait_start: elected, wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[0].Master.FailoverState = "select_slave"
		}},
		{name: "a forced failover needs no votes: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[0].Master.Flags = append(o.Sentinels[0].Master.Flags, "force_failover")
		}},
		{name: "a sentinel does not answer: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Sentinels[2] = SentinelNode{Pod: o.Sentinels[2].Pod, Err: "dial tcp: connection refused"}
		}},
		{name: "a pod answers as master: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			doomed(t, o)
			o.Redis[0] = masterNode(*t, 0, 0, 0)
		}},
	})
}

func TestPlanFailedElection(t *testing.T) {
	runPlanCases(t, []planCase{
		{name: "every sentinel voted in a newer epoch and none fails over: Sentinel waits 2 × failover-timeout, SENTINEL FAILOVER now",
			edit: splitVote, want: []string{"sentinel failover rfs-a-x"}},
		{name: "one sentinel runs a failover again (the others' records are of the last election): rule 1 waits", edit: func(t *hooks.Topology, o *Snapshot) {
			splitVote(t, o)
			waitStart(o, 1)
		}},
		{name: "a sentinel not seen voting may start its own: wait", edit: func(t *hooks.Topology, o *Snapshot) {
			splitVote(t, o)
			for i := range o.Sentinels {
				for j := range o.Sentinels[i].Sentinels {
					if p := &o.Sentinels[i].Sentinels[j]; p.IP == sentinelIP(2) {
						p.VotedLeader = "?"
					}
				}
			}
		}, want: []string{"wait"}, reason: "holds it down"},
		{name: "a sentinel does not answer: its vote is unknown, wait", edit: func(t *hooks.Topology, o *Snapshot) {
			splitVote(t, o)
			o.Sentinels[2] = SentinelNode{Pod: o.Sentinels[2].Pod, Err: "dial tcp: connection refused"}
		}, want: []string{"wait"}, reason: "holds it down"},
	})
}

// TestCleanupDue: a sentinel that knows a removed replica, or a stale sentinel, keeps the healer
// coming back soon until rule 8 has reset it; entries Sentinel would rediscover at once do not.
func TestCleanupDue(t *testing.T) {
	top, o := healthy()
	assert.False(t, CleanupDue(top, o), "healthy")

	top, o = healthy()
	removed(&o, 1)
	assert.True(t, CleanupDue(top, o), "a sentinel knows a removed replica (while another rediscovers its peers)")

	top, o = healthy()
	o.Sentinels[0].Sentinels = append(o.Sentinels[0].Sentinels, SentinelPeer{IP: "10.0.1.99", Port: 26379,
		Flags: []string{"s_down", "sentinel", "disconnected"}})
	assert.True(t, CleanupDue(top, o), "a sentinel knows a stale sentinel")

	top, o = healthy()
	o.Redis[0].Info.Replicas = append(o.Redis[0].Info.Replicas, ReplicaLink{IP: "10.0.0.99", Port: 6379, State: "online"})
	o.Sentinels[0].Replicas = append(o.Sentinels[0].Replicas, SentinelPeer{IP: "10.0.0.99", Port: 6379})
	assert.False(t, CleanupDue(top, o), "a foreign replica still connected to the master is rediscovered at once")

	top, o = healthy()
	removed(&o, 1)
	top.SentinelsEnabled = false
	assert.False(t, CleanupDue(top, o), "without sentinels")
}

// everyPodReplaced: every redis pod was deleted at once and came back at a new address, each a
// replica of the placeholder with the data of its volume; the sentinels still monitor the old
// master and know only the old replicas, all gone. Their failover attempts abort at once (no
// good replica) and come back every 2 × failover-timeout.
func everyPodReplaced(t *hooks.Topology, o *Snapshot) {
	for i, offset := range []int64{1000, 1200, 900} {
		t.Redis[i].IP = fmt.Sprintf("10.0.2.%d", 10+i)
		o.Redis[i] = replicaNode(*t, i, "127.0.0.1", 1, offset)
	}
	for i := range o.Sentinels {
		o.Sentinels[i].Master.Flags = []string{"master", "s_down", "o_down"}
		for j := range o.Sentinels[i].Replicas {
			o.Sentinels[i].Replicas[j].Flags = []string{"slave", "s_down", "disconnected"}
		}
	}
}

// TestPlanEveryPodReplaced: no sentinel can promote a pod that exists, so the healer promotes
// the one with the most data and re-points the sentinels in the same pass, also while sentinels
// are in one of their failover attempts: such a failover can only pick a replica that is gone,
// so nothing of the healer's can meet it.
func TestPlanEveryPodReplaced(t *testing.T) {
	for _, state := range []string{"", "wait_start", "select_slave"} {
		t.Run("failover state "+state, func(t *testing.T) {
			top, o := healthy()
			everyPodReplaced(&top, &o)
			if state != "" {
				for i := range o.Sentinels {
					m := o.Sentinels[i].Master
					m.Flags = append(m.Flags, "failover_in_progress")
					m.FailoverState = state
				}
			}
			acts := Plan(top, o)
			require.NotEmpty(t, acts)
			assert.Equal(t, "promote rfr-a-1", acts[0].String(), reasons(acts))
			got := strs(acts)
			assert.Contains(t, got, "replicaof rfr-a-0 10.0.2.11:6379 (rfr-a-1)")
			for _, sen := range top.Sentinels {
				assert.Contains(t, got, "sentinel remove "+sen.Name, "the pass ends %s's failover", sen.Name)
				assert.Contains(t, got, "sentinel monitor "+sen.Name+" 10.0.2.11:6379 quorum 2 (rfr-a-1)")
			}
			assert.False(t, Report(top, o, nil, nil).FailoverInProgress, "the status says Sentinel fails over")
		})
	}
	// Waited for, as rule 1 says: a failover that may reach a pod of ours, or when the healer
	// cannot tell.
	for name, edit := range map[string]func(top hooks.Topology, o *Snapshot){
		"the sentinel knows a pod of ours as a replica": func(top hooks.Topology, o *Snapshot) {
			o.Sentinels[1].Replicas[0].IP = top.Redis[2].IP
		},
		"the sentinel knows a replica on a pod's host, at another port": func(top hooks.Topology, o *Snapshot) {
			o.Sentinels[1].Replicas[0].IP, o.Sentinels[1].Replicas[0].Port = top.Redis[2].IP, 6380
		},
		"the sentinel's master is a pod of ours": func(top hooks.Topology, o *Snapshot) {
			o.Sentinels[1].Master.IP = top.Redis[0].IP
		},
		"a pod does not answer (it may hold more data, or be at an address Sentinel knows)": func(_ hooks.Topology, o *Snapshot) {
			unreachable(&o.Redis[2])
		},
	} {
		t.Run(name, func(t *testing.T) {
			top, o := healthy()
			everyPodReplaced(&top, &o)
			m := o.Sentinels[1].Master
			m.Flags, m.FailoverState = append(m.Flags, "failover_in_progress"), "select_slave"
			edit(top, &o)
			assert.Empty(t, Plan(top, o))
		})
	}
}
