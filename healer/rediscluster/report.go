package rediscluster

import (
	"sort"
	"time"
)

// Report is what the healer last saw of one cluster, for the status.
type Report struct {
	// Time is when the pass that made the report ended; zero before the first pass.
	Time time.Time
	// ClusterState is the cluster_state most answering members report ("ok", "fail"); "" when
	// none answered.
	ClusterState string
	// SlotsAssigned is the number of slots owned by some master.
	SlotsAssigned int
	// SlotsMigrating is the number of half-migrated slots (migrating/importing markers).
	SlotsMigrating int
	Nodes          []NodeReport
	Shards         []ShardReport
	// LastActions are the newest actions applied, newest first.
	LastActions []ActionRecord
	Errors      []string
	// SlotsMoved and KeysMoved count what the slot moves of the healer moved since it tracked
	// the cluster, in MoveTime.
	SlotsMoved, KeysMoved int64
	MoveTime              time.Duration
}

// NodeReport is one pod as observed.
type NodeReport struct {
	Pod, IP      string
	NodeID       string
	Role         string // "master", "replica" or "" when unreachable
	Shard        int
	MasterNodeID string
	Slots        int
	Reachable    bool
}

// ShardReport is one shard: its master pod, its replicas in sync or not, its slots.
type ShardReport struct {
	Index    int
	Master   string // pod; "" when no reachable master
	Replicas []string
	Slots    int
	// Leaving: the shard's index is NumberOfMaster or more. Drained: it is leaving and none of
	// its nodes holds a slot or is known to an active node any more (its StatefulSet can go).
	Leaving, Drained bool
}

// ActionRecord is one applied action.
type ActionRecord struct {
	Time   string // RFC 3339, UTC
	Action string
	Reason string
	Error  string
}

// BuildReport is the report of snapshot s of topology t.
func BuildReport(t Topology, s Snapshot, last []ActionRecord, errs []string) Report {
	v := newView(t, s)
	r := Report{LastActions: last, Errors: append(append([]string(nil), errs...), Conflicts(t, s)...)}
	for _, id := range v.owner {
		if id != "" {
			r.SlotsAssigned++
		}
	}
	r.SlotsMigrating = len(v.halfMoved)
	states := map[string]int{}
	shards := map[int]*ShardReport{}
	shard := func(k int) *ShardReport {
		if sr, ok := shards[k]; ok {
			return sr
		}
		sr := &ShardReport{Index: k, Leaving: t.Leaving(k)}
		shards[k] = sr
		return sr
	}
	for k := range t.NumberOfMaster {
		shard(k)
	}
	activeKnows := map[string]bool{}
	for _, n := range s.Nodes {
		if n.Reachable() && !t.Leaving(n.Node.Shard) {
			for _, c := range n.View {
				activeKnows[c.ID] = true
			}
		}
	}
	for _, n := range s.Nodes {
		nr := NodeReport{Pod: n.Node.Pod, IP: n.Node.IP, Shard: n.Node.Shard, Reachable: n.Reachable(), NodeID: n.ID}
		sr := shard(n.Node.Shard)
		if n.Reachable() {
			if v.member(n) {
				states[n.Info.State]++
			}
			self, _ := n.Self()
			nr.Role = "master"
			if self.Replica {
				nr.Role, nr.MasterNodeID = "replica", self.MasterID
			}
			nr.Slots = len(v.owned[n.ID])
			if m, ok := v.master(n.Node.Shard); ok && m.ID == n.ID {
				sr.Master, sr.Slots = n.Node.Pod, nr.Slots
			} else if self.Replica {
				sr.Replicas = append(sr.Replicas, n.Node.Pod)
			}
		}
		r.Nodes = append(r.Nodes, nr)
	}
	best := 0
	for st, c := range states {
		if c > best || c == best && st < r.ClusterState {
			r.ClusterState, best = st, c
		}
	}
	for k, sr := range shards {
		if sr.Leaving {
			sr.Drained = true
			for _, n := range s.Nodes {
				if n.Node.Shard != k {
					continue
				}
				if !n.Reachable() || v.ownsSlots(n) || activeKnows[n.ID] {
					sr.Drained = false
				}
			}
		}
		r.Shards = append(r.Shards, *sr)
	}
	sort.Slice(r.Shards, func(i, j int) bool { return r.Shards[i].Index < r.Shards[j].Index })
	return r
}
