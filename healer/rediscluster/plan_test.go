package rediscluster

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// spec is one pod of a test cluster: its place, its node ID, and what it is in the cluster.
type spec struct {
	shard, ord int
	id         string
	master     string // ID it replicates; "" for a master
	slots      []SlotRange
	epoch      int64
	keys       int64
	down       bool // the pod does not answer
	outdated   bool // not on its StatefulSet's update revision (a rollout under way)
}

func podName(s spec) string { return fmt.Sprintf("rdc-c-%d-%d", s.shard, s.ord) }
func podIP(s spec) string   { return fmt.Sprintf("10.0.%d.%d", s.shard, s.ord+1) }

// line is s as a CLUSTER NODES line.
func line(s spec, myself bool) ClusterNode {
	c := ClusterNode{ID: s.id, IP: podIP(s), Port: 6379, BusPort: 16379, Myself: myself, MasterID: s.master,
		Epoch: s.epoch, Connected: true, Slots: s.slots}
	c.Master, c.Replica = s.master == "", s.master != ""
	return c
}

// snapshotOf builds a topology and a snapshot in which every pod knows every other: each view
// is the list of specs, with myself set.
func snapshotOf(masters int, specs ...spec) (Topology, Snapshot) {
	t := Topology{Namespace: "ns", Name: "c", NumberOfMaster: masters, ReplicationFactor: 1}
	var s Snapshot
	for _, sp := range specs {
		n := Node{Pod: podName(sp), IP: podIP(sp), Port: 6379, Shard: sp.shard, Ordinal: sp.ord, Ready: true, Updated: !sp.outdated}
		t.Nodes = append(t.Nodes, n)
		st := NodeState{Node: n}
		if sp.down {
			st.Err = "dial: connection refused"
		} else {
			st.ID = sp.id
			for _, o := range specs {
				st.View = append(st.View, line(o, o.id == sp.id))
			}
			st.Info = ClusterInfo{State: "ok", SlotsAssigned: NumSlots}
			st.Repl = Replication{Role: "master"}
			if sp.master != "" {
				st.Repl = Replication{Role: "slave", LinkUp: true}
			}
			st.Keys = sp.keys
		}
		s.Nodes = append(s.Nodes, st)
	}
	return t, s
}

// healthy3 is 3 shards of a master and a replica, balanced.
func healthy3() []spec {
	var out []spec
	for k := range 3 {
		m := fmt.Sprintf("m%d", k)
		out = append(out, spec{shard: k, ord: 0, id: m, slots: []SlotRange{shardRange(k, 3)}, epoch: int64(k + 1)},
			spec{shard: k, ord: 1, id: fmt.Sprintf("r%d", k), master: m, epoch: int64(k + 1)})
	}
	return out
}

func kinds(acts []Action) string {
	var k []string
	for _, a := range acts {
		k = append(k, a.String())
	}
	return strings.Join(k, "\n")
}

func countKind(acts []Action, kind string) int {
	n := 0
	for _, a := range acts {
		if a.Kind() == kind {
			n++
		}
	}
	return n
}

func TestPlanConvergedDoesNothing(t *testing.T) {
	top, s := snapshotOf(3, healthy3()...)
	assert.Empty(t, Plan(top, s))
	r := BuildReport(top, s, nil, nil)
	assert.Equal(t, "ok", r.ClusterState)
	assert.Equal(t, NumSlots, r.SlotsAssigned)
	require.Len(t, r.Shards, 3)
	assert.Equal(t, "rdc-c-0-0", r.Shards[0].Master)
	assert.Equal(t, []string{"rdc-c-0-1"}, r.Shards[0].Replicas)
	assert.Equal(t, 5462, r.Shards[2].Slots)
}

func TestPlanBootstrap(t *testing.T) {
	// Six fresh nodes: each knows only itself, no slot anywhere.
	var specs []spec
	for k := range 3 {
		specs = append(specs, spec{shard: k, ord: 0, id: fmt.Sprintf("m%d", k)}, spec{shard: k, ord: 1, id: fmt.Sprintf("r%d", k)})
	}
	top, s := snapshotOf(3, specs...)
	for i := range s.Nodes {
		self, _ := s.Nodes[i].Self()
		s.Nodes[i].View = []ClusterNode{self}
		s.Nodes[i].Info.State = "fail"
	}
	acts := Plan(top, s)
	assert.Equal(t, 5, countKind(acts, "meet"), kinds(acts))
	for _, a := range acts {
		if m, ok := a.(Meet); ok {
			assert.Equal(t, "rdc-c-0-0", m.Pod, "one seed meets the others")
		}
	}
	require.Equal(t, 3, countKind(acts, "addslots"), kinds(acts))
	var got []AddSlots
	for _, a := range acts {
		if as, ok := a.(AddSlots); ok {
			got = append(got, as)
		}
	}
	assert.Equal(t, AddSlots{Pod: "rdc-c-0-0", Slots: []SlotRange{{0, 5460}}, Why: got[0].Why}, got[0])
	assert.Equal(t, []SlotRange{{5461, 10921}}, got[1].Slots)
	assert.Equal(t, []SlotRange{{10922, 16383}}, got[2].Slots)
	assert.Equal(t, "rdc-c-2-0", got[2].Pod)
	assert.Zero(t, countKind(acts, "replicate"), "nobody knows the masters yet")
	assert.Zero(t, countKind(acts, "moveslots"))

	// A candidate that does not answer: no slot is assigned at all.
	s.Nodes[4].Err, s.Nodes[4].ID = "refused", ""
	acts = Plan(top, s)
	assert.Zero(t, countKind(acts, "addslots"), kinds(acts))
}

func TestPlanBootstrapPrefersTheNodeWithData(t *testing.T) {
	specs := []spec{{shard: 0, ord: 0, id: "a"}, {shard: 0, ord: 1, id: "b", keys: 10}}
	top, s := snapshotOf(1, specs...)
	for i := range s.Nodes {
		s.Nodes[i].Info.State = "fail"
	}
	acts := Plan(top, s)
	require.Equal(t, 1, countKind(acts, "addslots"), kinds(acts))
	assert.Equal(t, "rdc-c-0-1", acts[0].On())
	assert.Contains(t, kinds(acts), "rdc-c-0-0: CLUSTER REPLICATE b")
}

func TestPlanReplicate(t *testing.T) {
	specs := healthy3()
	specs[1].master = ""                                      // r0: a fresh master without slots
	specs[3].master = "m2"                                    // r1: replica of another shard's master
	specs[5].master, specs[5].slots = "", []SlotRange{{0, 0}} // r2: claims a slot: never a replica
	top, s := snapshotOf(3, specs...)
	acts := Plan(top, s)
	assert.Contains(t, kinds(acts), "rdc-c-0-1: CLUSTER REPLICATE m0")
	// r1 is m2's only replica here (r2 claims a slot): it stays (see
	// TestPlanNeverRepointsTheLastCopyOfAMastersSlots for when it is repointed).
	assert.NotContains(t, kinds(acts), "rdc-c-1-1: CLUSTER REPLICATE")
	assert.NotContains(t, kinds(acts), "rdc-c-2-1: CLUSTER REPLICATE")
	for _, a := range acts {
		assert.NotEmpty(t, a.Reason(), a.String())
	}

	// A master that does not know the node yet: MEET first.
	top, s = snapshotOf(3, healthy3()...)
	self := s.Nodes[1].View[1]
	self.Replica, self.Master, self.MasterID = false, true, ""
	s.Nodes[1].View = []ClusterNode{self} // a fresh node: knows itself only
	for i := range s.Nodes {
		if i != 1 {
			s.Nodes[i].View = append(s.Nodes[i].View[:1:1], s.Nodes[i].View[2:]...)
		}
	}
	acts = Plan(top, s)
	assert.Zero(t, countKind(acts, "replicate"), kinds(acts))
	assert.Equal(t, 1, countKind(acts, "meet"), kinds(acts))
}

func TestPlanNeverAssignsAClaimedSlot(t *testing.T) {
	specs := healthy3()
	specs[4].slots = []SlotRange{{10922, 16000}} // shard 2's master lost 16001-16383
	top, s := snapshotOf(3, specs...)
	acts := Plan(top, s)
	require.Equal(t, 1, countKind(acts, "addslots"), kinds(acts))
	as := acts[0].(AddSlots)
	assert.Equal(t, []SlotRange{{16001, 16383}}, as.Slots)
	assert.Equal(t, "rdc-c-2-0", as.Pod)
	assert.Zero(t, countKind(acts, "moveslots"), "no move while slots are unassigned")

	// A slot shown as importing somewhere counts as claimed.
	s.Nodes[2].View[2].Importing = map[int]string{16001: "m0"}
	s.Nodes[2].View[2].Myself = true
	acts = Plan(top, s)
	require.Equal(t, 1, countKind(acts, "addslots"), kinds(acts))
	for _, a := range acts {
		if as, ok := a.(AddSlots); ok {
			assert.Equal(t, []SlotRange{{16002, 16383}}, as.Slots)
		}
	}
}

func TestPlanScaleOut(t *testing.T) {
	specs := append(healthy3(), spec{shard: 3, ord: 0, id: "m3"}, spec{shard: 3, ord: 1, id: "r3", master: "m3"})
	top, s := snapshotOf(4, specs...)
	acts := Plan(top, s)
	moved := map[string]int{}
	total := 0
	for _, a := range acts {
		m, ok := a.(MoveSlots)
		require.True(t, ok, a.String())
		assert.Equal(t, "rdc-c-3-0", m.Target)
		assert.False(t, m.Resume)
		moved[m.Source] += len(m.Slots)
		total += len(m.Slots)
	}
	assert.Equal(t, map[string]int{"rdc-c-0-0": 1365, "rdc-c-1-0": 1365, "rdc-c-2-0": 1366}, moved)
	assert.Equal(t, 4096, total)
	// the highest slots of each source move
	assert.Equal(t, 5460, acts[0].(MoveSlots).Slots[len(acts[0].(MoveSlots).Slots)-1])

	// Not while a node is unsettled.
	s.Nodes[7].Info.State = "fail"
	assert.Zero(t, countKind(Plan(top, s), "moveslots"))
}

func TestPlanScaleIn(t *testing.T) {
	specs := []spec{}
	for k := range 4 {
		m := fmt.Sprintf("m%d", k)
		specs = append(specs, spec{shard: k, ord: 0, id: m, slots: []SlotRange{shardRange(k, 4)}, epoch: int64(k + 1)},
			spec{shard: k, ord: 1, id: fmt.Sprintf("r%d", k), master: m, epoch: int64(k + 1)})
	}
	top, s := snapshotOf(3, specs...)
	acts := Plan(top, s)
	got := map[string]int{}
	for _, a := range acts {
		m := a.(MoveSlots)
		got[m.Source+">"+m.Target] += len(m.Slots)
	}
	// shard 3 gives 4096: shards 0, 1, 2 need 1365, 1365, 1366; nothing else moves.
	assert.Equal(t, map[string]int{"rdc-c-3-0>rdc-c-0-0": 1365, "rdc-c-3-0>rdc-c-1-0": 1365, "rdc-c-3-0>rdc-c-2-0": 1366}, got, kinds(acts))
	r := BuildReport(top, s, nil, nil)
	assert.True(t, r.Shards[3].Leaving)
	assert.False(t, r.Shards[3].Drained)

	// Drained: shard 3's master lost its slots and became a replica of the last receiver
	// (Redis does that); its nodes are forgotten by every active node, never by leaving ones.
	specs[0].slots = []SlotRange{{0, 4095}, {12288, 13652}}
	specs[2].slots = []SlotRange{{4096, 8191}, {13653, 15017}}
	specs[4].slots = []SlotRange{{8192, 12287}, {15018, 16383}}
	specs[6].slots, specs[6].master = nil, "m2"
	specs[7].master = "m2"
	top, s = snapshotOf(3, specs...)
	acts = Plan(top, s)
	assert.Equal(t, 12, countKind(acts, "forget"), kinds(acts))
	assert.Equal(t, len(acts), 12, kinds(acts))
	for _, a := range acts {
		assert.NotContains(t, a.On(), "rdc-c-3-", "a leaving node is never asked to forget")
	}
	// Once forgotten by every active node, the shard reports drained.
	for i := range s.Nodes[:6] {
		var keep []ClusterNode
		for _, c := range s.Nodes[i].View {
			if c.ID != "m3" && c.ID != "r3" {
				keep = append(keep, c)
			}
		}
		s.Nodes[i].View = keep
	}
	acts = Plan(top, s)
	assert.Equal(t, "rdc-c-3-0: CLUSTER RESET SOFT\nrdc-c-3-1: CLUSTER RESET SOFT", kinds(acts))
	assert.True(t, BuildReport(top, s, nil, nil).Shards[3].Drained)
	// Reset: they know only themselves.
	s.Nodes[6].View, s.Nodes[7].View = s.Nodes[6].View[6:7], s.Nodes[7].View[7:8]
	assert.Empty(t, Plan(top, s))
}

func TestPlanResumesHalfMigratedSlotsFirst(t *testing.T) {
	specs := append(healthy3(), spec{shard: 3, ord: 0, id: "m3"}, spec{shard: 3, ord: 1, id: "r3", master: "m3"})
	top, s := snapshotOf(4, specs...)
	// m0 migrates slot 5460 to m3: markers on their own lines.
	s.Nodes[0].View[0].Migrating = map[int]string{5460: "m3"}
	s.Nodes[6].View[6].Importing = map[int]string{5460: "m0"}
	acts := Plan(top, s)
	require.Len(t, acts, 1, kinds(acts))
	m := acts[0].(MoveSlots)
	assert.True(t, m.Resume)
	assert.Equal(t, []int{5460}, m.Slots)
	assert.Equal(t, "rdc-c-0-0", m.Source)
	assert.Equal(t, "rdc-c-3-0", m.Target)
	assert.Equal(t, 1, BuildReport(top, s, nil, nil).SlotsMigrating)

	// Only the target's marker (the source's MIGRATING was never sent): still resumed.
	s.Nodes[0].View[0].Migrating = nil
	acts = Plan(top, s)
	require.Len(t, acts, 1, kinds(acts))
	assert.Equal(t, "rdc-c-0-0", acts[0].(MoveSlots).Source)
}

func TestPlanForgetsAReplacedNode(t *testing.T) {
	specs := healthy3()
	top, s := snapshotOf(3, specs...)
	// r1's pod was replaced: a fresh node "n1" at a new IP. The others still list r1, failed,
	// at the old address; n1 is known to the seed and a master without slots.
	old := s.Nodes[3]
	top.Nodes[3].IP = "10.0.9.9"
	fresh := NodeState{Node: top.Nodes[3], ID: "n1", Info: ClusterInfo{State: "ok"}, Repl: Replication{Role: "master"}}
	for i := range s.Nodes {
		if i == 3 {
			continue
		}
		for j := range s.Nodes[i].View {
			if s.Nodes[i].View[j].ID == "r1" {
				s.Nodes[i].View[j].Fail = true
				s.Nodes[i].View[j].Connected = false
			}
		}
		s.Nodes[i].View = append(s.Nodes[i].View, ClusterNode{ID: "n1", IP: "10.0.9.9", Port: 6379, Master: true, Connected: true})
	}
	fresh.View = append([]ClusterNode(nil), s.Nodes[0].View...)
	for j := range fresh.View {
		fresh.View[j].Myself = fresh.View[j].ID == "n1"
	}
	s.Nodes[3] = fresh
	_ = old
	acts := Plan(top, s)
	assert.Contains(t, kinds(acts), "rdc-c-1-1: CLUSTER REPLICATE m1")
	// r1 forgotten by the 5 others and by the fresh node, which learnt it by gossip
	assert.Equal(t, 6, countKind(acts, "forget"), kinds(acts))
	for _, a := range acts {
		if f, ok := a.(Forget); ok {
			assert.Equal(t, "r1", f.NodeID)
		}
	}

	// Not forgotten when its pod kept the address but does not answer (a restart with its
	// nodes.conf), whether flagged fail or only suspected (fail?).
	for _, pfail := range []bool{false, true} {
		top, s = snapshotOf(3, specs...)
		s.Nodes[3].Err, s.Nodes[3].ID = "refused", ""
		for i := range s.Nodes {
			for j := range s.Nodes[i].View {
				if s.Nodes[i].View[j].ID == "r1" {
					s.Nodes[i].View[j].Fail, s.Nodes[i].View[j].PFail = !pfail, pfail
				}
			}
		}
		assert.Zero(t, countKind(Plan(top, s), "forget"), "pfail %v", pfail)
	}
	// Nor while only suspected (fail?) at an address that is no pod's any more: only fail is
	// final.
	top, s = snapshotOf(3, specs...)
	top.Nodes[3].IP = "10.0.9.9"
	s.Nodes[3] = NodeState{Node: top.Nodes[3], Err: "refused"}
	for i := range s.Nodes {
		for j := range s.Nodes[i].View {
			if s.Nodes[i].View[j].ID == "r1" {
				s.Nodes[i].View[j].PFail = true
			}
		}
	}
	assert.Zero(t, countKind(Plan(top, s), "forget"), "fail? is not fail")
}

func TestPlanKilledMasterComingBack(t *testing.T) {
	// m1 was killed, r1 took over (epoch 7); m1 restarts with its nodes.conf and, for a moment,
	// still claims its old slots in its own view.
	specs := healthy3()
	specs[3].master, specs[3].slots, specs[3].epoch = "", specs[2].slots, 7
	specs[2].master, specs[2].slots = "r1", nil
	top, s := snapshotOf(3, specs...)
	self := &s.Nodes[2].View[2]
	self.Master, self.Replica, self.MasterID, self.Slots, self.Epoch = true, false, "", []SlotRange{shardRange(1, 3)}, 2
	acts := Plan(top, s)
	assert.Empty(t, acts, "Redis turns it into a replica itself: %s", kinds(acts))
	r := BuildReport(top, s, nil, nil)
	assert.Equal(t, "rdc-c-1-1", r.Shards[1].Master)

	// Once it says it is a replica of r1, nothing either: it stays a replica.
	top, s = snapshotOf(3, specs...)
	assert.Empty(t, Plan(top, s))

	// While m1 is down and r1 not promoted yet: no action on shard 1.
	specs = healthy3()
	specs[2].down = true
	top, s = snapshotOf(3, specs...)
	for i := range s.Nodes {
		s.Nodes[i].Info.State = "fail"
	}
	assert.Empty(t, Plan(top, s))
}

func TestPlanWaitsForRedisToPromote(t *testing.T) {
	// m2 is gone and its pod replaced by a fresh node (ordinal 0, a master without slots);
	// r2 still replicates m2, which holds the slots: r2 must not follow the empty node.
	specs := healthy3()
	specs[4].down = true
	top, s := snapshotOf(3, specs...)
	top.Nodes[4].IP = "10.0.9.9"
	fresh := NodeState{Node: top.Nodes[4], ID: "n2", Info: ClusterInfo{State: "fail"}, Repl: Replication{Role: "master"},
		View: []ClusterNode{{ID: "n2", IP: "10.0.9.9", Port: 6379, Myself: true, Master: true, Connected: true}}}
	s.Nodes[4] = fresh
	acts := Plan(top, s)
	assert.Zero(t, countKind(acts, "replicate"), kinds(acts))
	assert.Equal(t, 1, countKind(acts, "meet"), kinds(acts))
	assert.Equal(t, "", BuildReport(top, s, nil, nil).Shards[2].Master)
}

func TestPlanRolloutFailover(t *testing.T) {
	specs := healthy3()
	for i := range specs {
		specs[i].outdated = specs[i].ord == 0 // replicas rolled, masters not
	}
	top, s := snapshotOf(3, specs...)
	acts := Plan(top, s)
	require.Len(t, acts, 1, kinds(acts))
	assert.Equal(t, Failover{Pod: "rdc-c-0-1", MasterPod: "rdc-c-0-0", Why: acts[0].Reason()}, acts[0])

	// The master has not heard of its updated replica yet (it replicates, but the gossip has
	// not reached the master): it would ignore the replica's request, so no failover yet.
	for i, c := range s.Nodes[0].View {
		if c.ID == "r0" {
			s.Nodes[0].View[i].MasterID, s.Nodes[0].View[i].Master, s.Nodes[0].View[i].Replica = "", true, false
		}
	}
	assert.Empty(t, Plan(top, s), "rdc-c-0-0 does not know rdc-c-0-1 as its replica")
	_, s = snapshotOf(3, specs...)
	// No cluster-bus link from the replica to its master: neither.
	for i, c := range s.Nodes[1].View {
		if c.ID == "m0" {
			s.Nodes[1].View[i].Connected = false
		}
	}
	assert.Empty(t, Plan(top, s), "rdc-c-0-1 has no link to rdc-c-0-0")
	_, s = snapshotOf(3, specs...)

	// A shard without a replica in sync (its old master restarting): no failover anywhere.
	s.Nodes[3].Repl.LinkUp = false
	assert.Empty(t, Plan(top, s))

	// Nobody updated: no failover (the partition updates the replicas first).
	specs = healthy3()
	for i := range specs {
		specs[i].outdated = true
	}
	top, s = snapshotOf(3, specs...)
	assert.Empty(t, Plan(top, s))

	// Shard 0's master on its last ordinal (a hand-over made rdc-c-0-1 the master): its
	// partition updates no pod before it moves, so it moves to its outdated replica; once that
	// one's pod above is updated, to the updated one.
	specs = healthy3()
	specs[0].master, specs[1].master = "r0", "" // rdc-c-0-0 replicates rdc-c-0-1
	specs[0].slots, specs[1].slots = nil, specs[0].slots
	specs[0].outdated, specs[1].outdated = true, true
	top, s = snapshotOf(3, specs...)
	acts = Plan(top, s)
	require.Len(t, acts, 1, kinds(acts))
	assert.Equal(t, Failover{Pod: "rdc-c-0-0", MasterPod: "rdc-c-0-1", Why: acts[0].Reason()}, acts[0])
	assert.Contains(t, acts[0].Reason(), "last ordinal")
	// The master below another pod that is not updated yet: the partition updates that one first.
	specs = healthy3()
	specs[0].outdated, specs[1].outdated = true, true
	top, s = snapshotOf(3, specs...)
	assert.Empty(t, Plan(top, s), "rdc-c-0-0 is master below rdc-c-0-1: wait for the partition")
}

func TestPlanNeverMergesTwoClustersClaimingTheSameSlots(t *testing.T) {
	// Shard 2's master formed a cluster of its own and claims slots shard 0 holds.
	specs := healthy3()
	top, s := snapshotOf(3, specs...)
	self := s.Nodes[4].View[4]
	self.Slots = []SlotRange{{0, 100}}
	s.Nodes[4].View = []ClusterNode{self}
	for i := range s.Nodes {
		if i == 4 {
			continue
		}
		var keep []ClusterNode
		for _, c := range s.Nodes[i].View {
			if c.ID != "m2" {
				keep = append(keep, c)
			}
		}
		s.Nodes[i].View = keep
	}
	acts := Plan(top, s)
	assert.NotContains(t, kinds(acts), "CLUSTER MEET 10.0.2.1", kinds(acts))
	assert.Contains(t, strings.Join(BuildReport(top, s, nil, nil).Errors, "\n"), "rdc-c-2-0's view gives slot 0 to m2")
}

func TestPlanMeetsANodeKnownAtAnotherAddress(t *testing.T) {
	top, s := snapshotOf(3, healthy3()...)
	// r1's pod came back at a new IP with its nodes.conf: the others still list the old address.
	top.Nodes[3].IP = "10.0.9.9"
	s.Nodes[3].Node = top.Nodes[3]
	acts := Plan(top, s)
	require.Len(t, acts, 1, kinds(acts))
	m := acts[0].(Meet)
	assert.Equal(t, Meet{Pod: "rdc-c-0-0", Peer: "rdc-c-1-1", IP: "10.0.9.9", Port: 6379, Why: m.Why}, m)
	assert.Contains(t, m.Why, "at 10.0.1.2:6379")
	assert.Zero(t, countKind(acts, "forget"), "a node that answers with its ID is never forgotten")

	// A terminating pod is not met.
	top.Nodes[3].Terminating = true
	s.Nodes[3].Node = top.Nodes[3]
	assert.Empty(t, Plan(top, s))
}

func TestPlanReattachesAReplicaOfAnotherShardToANewShard(t *testing.T) {
	// Shard 3 is new; its ordinal 1 replicates shard 0's master (a mistake, or Redis' replica
	// migration): it is reattached to shard 3's master, and shard 3 still gets its slots.
	specs := append(healthy3(), spec{shard: 3, ord: 0, id: "m3"}, spec{shard: 3, ord: 1, id: "r3", master: "m0"})
	top, s := snapshotOf(4, specs...)
	acts := Plan(top, s)
	assert.Contains(t, kinds(acts), "rdc-c-3-1: CLUSTER REPLICATE m3")
	assert.Equal(t, 3, countKind(acts, "moveslots"), kinds(acts))
}

func TestPlanNeverRepointsTheLastCopyOfAMastersSlots(t *testing.T) {
	// r1 (shard 1) replicates m2, which owns shard 2's slots. It may be repointed at m1 only
	// while m2 answers, no view flags m2 fail or fail?, and m2 has another replica in sync.
	base := func() (Topology, Snapshot) {
		specs := healthy3()
		specs[3].master = "m2"
		return snapshotOf(3, specs...)
	}
	flag := func(s Snapshot, id string, set func(*ClusterNode)) {
		for i := range s.Nodes {
			for j := range s.Nodes[i].View {
				if s.Nodes[i].View[j].ID == id {
					set(&s.Nodes[i].View[j])
				}
			}
		}
	}
	cases := []struct {
		name    string
		mutate  func(Topology, Snapshot)
		repoint bool
	}{
		{"m2 healthy, r2 in sync", func(Topology, Snapshot) {}, true},
		{"m2 does not answer", func(_ Topology, s Snapshot) { s.Nodes[4].Err, s.Nodes[4].ID = "refused", "" }, false},
		{"m2 flagged fail", func(_ Topology, s Snapshot) { flag(s, "m2", func(c *ClusterNode) { c.Fail = true }) }, false},
		{"m2 flagged fail?", func(_ Topology, s Snapshot) { flag(s, "m2", func(c *ClusterNode) { c.PFail = true }) }, false},
		{"r2 not in sync", func(_ Topology, s Snapshot) { s.Nodes[5].Repl.LinkUp = false }, false},
		{"r2 does not answer", func(_ Topology, s Snapshot) { s.Nodes[5].Err, s.Nodes[5].ID = "refused", "" }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			top, s := base()
			tc.mutate(top, s)
			acts := Plan(top, s)
			if tc.repoint {
				assert.Contains(t, kinds(acts), "rdc-c-1-1: CLUSTER REPLICATE m1", kinds(acts))
			} else {
				assert.NotContains(t, kinds(acts), "rdc-c-1-1: CLUSTER REPLICATE", kinds(acts))
			}
		})
	}
}

func TestPlanNeverForgetsOrResetsABusyLeavingShard(t *testing.T) {
	// Scale-in 4 → 3: shard 3's master m3 does not answer but still owns slots in every view;
	// its replica r3 answers. r3 is neither forgotten nor reset: it holds the only copy.
	specs := append(healthy3(), spec{shard: 3, ord: 0, id: "m3", slots: []SlotRange{{0, 10}}, epoch: 9, down: true},
		spec{shard: 3, ord: 1, id: "r3", master: "m3", epoch: 9})
	specs[0].slots = []SlotRange{{11, 5460}}
	top, s := snapshotOf(3, specs...)
	acts := Plan(top, s)
	assert.Zero(t, countKind(acts, "forget"), kinds(acts))
	assert.Zero(t, countKind(acts, "reset"), kinds(acts))

	// Even once the active nodes forgot r3 (by hand, say): no reset while m3 owns slots.
	for i := range s.Nodes {
		if s.Nodes[i].ID == "r3" {
			continue
		}
		var keep []ClusterNode
		for _, c := range s.Nodes[i].View {
			if c.ID != "r3" {
				keep = append(keep, c)
			}
		}
		s.Nodes[i].View = keep
	}
	acts = Plan(top, s)
	assert.Zero(t, countKind(acts, "reset"), kinds(acts))
	assert.Zero(t, countKind(acts, "forget"), kinds(acts))

	// m3's pod answers with another ID (a fresh node at its address) while the views still show
	// m3's line owning slots at that address: the shard is busy too.
	top, s = snapshotOf(3, specs...)
	s.Nodes[6] = NodeState{Node: top.Nodes[6], ID: "n3", Info: ClusterInfo{State: "fail"}, Repl: Replication{Role: "master"},
		View: []ClusterNode{{ID: "n3", IP: "10.0.3.1", Port: 6379, Myself: true, Master: true, Connected: true}}}
	s.Nodes[7].View[6].Fail = true
	acts = Plan(top, s)
	assert.NotContains(t, kinds(acts), "CLUSTER FORGET r3", kinds(acts))
	assert.Zero(t, countKind(acts, "reset"), kinds(acts))
}

func TestPlanResumesAHalfMovedSlotFromItsCurrentOwner(t *testing.T) {
	withMarkers := func(s Snapshot, id string, set func(*ClusterNode)) {
		for i := range s.Nodes {
			if s.Nodes[i].ID == id {
				for j := range s.Nodes[i].View {
					if s.Nodes[i].View[j].Myself {
						set(&s.Nodes[i].View[j])
					}
				}
			}
		}
	}
	resumes := func(acts []Action) []MoveSlots {
		var out []MoveSlots
		for _, a := range acts {
			if m, ok := a.(MoveSlots); ok && m.Resume {
				out = append(out, m)
			}
		}
		return out
	}

	// Both markers agree: m0 → m1.
	top, s := snapshotOf(3, healthy3()...)
	withMarkers(s, "m0", func(c *ClusterNode) { c.Migrating = map[int]string{7: "m1"} })
	withMarkers(s, "m1", func(c *ClusterNode) { c.Importing = map[int]string{7: "m0"} })
	got := resumes(Plan(top, s))
	require.Len(t, got, 1, kinds(Plan(top, s)))
	assert.Equal(t, []string{"m0", "m1"}, []string{got[0].SourceID, got[0].TargetID})

	// The source m0 failed over during the move: r0 owns its slots (higher epoch) and has no
	// marker; m1 still imports slot 7 from the dead m0. Resumed from r0, the current owner.
	specs := healthy3()
	specs[0].down = true
	specs[1].master, specs[1].slots, specs[1].epoch = "", specs[0].slots, 9
	specs[0].slots = nil
	top, s = snapshotOf(3, specs...)
	withMarkers(s, "m1", func(c *ClusterNode) { c.Importing = map[int]string{7: "m0"} })
	got = resumes(Plan(top, s))
	require.Len(t, got, 1, kinds(Plan(top, s)))
	assert.Equal(t, MoveSlots{Source: "rdc-c-0-1", SourceID: "r0", Target: "rdc-c-1-0", TargetID: "m1", Slots: []int{7},
		Resume: true, Why: got[0].Why}, got[0])

	// Markers that disagree (m0 migrates slot 7 to m1, m2 imports it): not resumed.
	top, s = snapshotOf(3, healthy3()...)
	withMarkers(s, "m0", func(c *ClusterNode) { c.Migrating = map[int]string{7: "m1"} })
	withMarkers(s, "m2", func(c *ClusterNode) { c.Importing = map[int]string{7: "m0"} })
	assert.Empty(t, resumes(Plan(top, s)), kinds(Plan(top, s)))
	assert.Equal(t, 1, BuildReport(top, s, nil, nil).SlotsMigrating)

	// A migrating marker on m0 naming m1 for a slot m1 owns already (SETSLOT NODE done on the
	// target, not on the source): finished from m0 to m1, never from m1 to itself.
	specs = healthy3()
	specs[0].slots = []SlotRange{{0, 6}, {8, 5460}}
	specs[2].slots = []SlotRange{{7, 7}, {5461, 10921}}
	top, s = snapshotOf(3, specs...)
	withMarkers(s, "m0", func(c *ClusterNode) { c.Migrating = map[int]string{7: "m1"} })
	got = resumes(Plan(top, s))
	require.Len(t, got, 1, kinds(Plan(top, s)))
	assert.Equal(t, []string{"m0", "m1"}, []string{got[0].SourceID, got[0].TargetID})
}

func TestPlanBootstrapNeedsEveryPod(t *testing.T) {
	fresh := func() (Topology, Snapshot) {
		var specs []spec
		for k := range 3 {
			specs = append(specs, spec{shard: k, ord: 0, id: fmt.Sprintf("m%d", k)}, spec{shard: k, ord: 1, id: fmt.Sprintf("r%d", k)})
		}
		top, s := snapshotOf(3, specs...)
		for i := range s.Nodes {
			self, _ := s.Nodes[i].Self()
			s.Nodes[i].View = []ClusterNode{self}
			s.Nodes[i].Info.State = "fail"
		}
		return top, s
	}
	top, s := fresh()
	require.Equal(t, 3, countKind(Plan(top, s), "addslots"))

	// A replica pod does not answer: it may be a master of a cluster this snapshot misses.
	top, s = fresh()
	s.Nodes[3].Err, s.Nodes[3].ID = "refused", ""
	assert.Zero(t, countKind(Plan(top, s), "addslots"), kinds(Plan(top, s)))

	// A pod without IP yet: it does not answer either.
	top, s = fresh()
	top.Nodes[5].IP = ""
	s.Nodes[5] = NodeState{Node: top.Nodes[5], Err: "no IP"}
	assert.Zero(t, countKind(Plan(top, s), "addslots"), kinds(Plan(top, s)))

	// Keys on a pod that is not a candidate (both pods of shard 0 hold data): not a fresh
	// cluster, nothing is assigned.
	top, s = fresh()
	s.Nodes[0].Keys, s.Nodes[1].Keys = 5, 5
	assert.Zero(t, countKind(Plan(top, s), "addslots"), kinds(Plan(top, s)))
}

func TestPlanNeverMeetsANodeOfAnotherCluster(t *testing.T) {
	// m2 is unknown to the others. Its own line holds no slot, but its view lists x9 owning
	// slots 0-100, which the seed's cluster gives to m0.
	isolate := func(s Snapshot, extra ...ClusterNode) {
		self := s.Nodes[4].View[4]
		self.Slots = nil
		s.Nodes[4].View = append([]ClusterNode{self}, extra...)
		for i := range s.Nodes {
			if i == 4 {
				continue
			}
			var keep []ClusterNode
			for _, c := range s.Nodes[i].View {
				if c.ID != "m2" {
					keep = append(keep, c)
				}
			}
			s.Nodes[i].View = keep
		}
	}
	top, s := snapshotOf(3, healthy3()...)
	isolate(s, ClusterNode{ID: "x9", IP: "10.9.9.9", Port: 6379, Master: true, Connected: true, Slots: []SlotRange{{0, 100}}})
	acts := Plan(top, s)
	assert.NotContains(t, kinds(acts), "CLUSTER MEET 10.0.2.1", kinds(acts))
	assert.Contains(t, strings.Join(BuildReport(top, s, nil, nil).Errors, "\n"), "rdc-c-2-0's view gives slot 0 to x9")

	// A view listing a node the seed does not know, without slots: not met either.
	top, s = snapshotOf(3, healthy3()...)
	isolate(s, ClusterNode{ID: "x9", IP: "10.9.9.9", Port: 6379, Master: true, Connected: true})
	acts = Plan(top, s)
	assert.NotContains(t, kinds(acts), "CLUSTER MEET 10.0.2.1", kinds(acts))
	assert.Contains(t, strings.Join(BuildReport(top, s, nil, nil).Errors, "\n"), "rdc-c-2-0 knows 1 nodes that rdc-c-0-0 does not")

	// A fresh node (knows only itself) is met.
	top, s = snapshotOf(3, healthy3()...)
	isolate(s)
	assert.Contains(t, kinds(Plan(top, s)), "CLUSTER MEET 10.0.2.1")
}

func TestSplitBySize(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e", "f"}
	cases := []struct {
		sizes []int64
		want  [][]string
	}{
		{[]int64{10, 10, 10, 10, 10, 10}, [][]string{{"a", "b", "c", "d", "e", "f"}}},
		{[]int64{400, 400, 400, 10, 10, 10}, [][]string{{"a", "b"}, {"c", "d", "e", "f"}}},
		{[]int64{10, 2000, 10, 10, 10, 10}, [][]string{{"a"}, {"b"}, {"c", "d", "e", "f"}}}, // too big: alone
		{[]int64{10, -1, 10, 10, 10, 10}, [][]string{{"a"}, {"b"}, {"c", "d", "e", "f"}}},   // unknown: alone
		{[]int64{1000, 1000, 1000, 1000, 1000, 1000}, [][]string{{"a"}, {"b"}, {"c"}, {"d"}, {"e"}, {"f"}}},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, splitBySize(keys, tc.sizes, 1000), "%v", tc.sizes)
	}
}

func TestMigrateTimeoutIsWellUnderTheNodeTimeout(t *testing.T) {
	assert.Equal(t, 1250*time.Millisecond, Topology{}.MigrateTimeout(0), "default node timeout 5 s")
	assert.Equal(t, 500*time.Millisecond, Topology{NodeTimeout: 2 * time.Second}.MigrateTimeout(0))
	assert.Equal(t, 300*time.Millisecond, Topology{NodeTimeout: 2 * time.Second}.MigrateTimeout(300*time.Millisecond))
	assert.Equal(t, 500*time.Millisecond, Topology{NodeTimeout: 2 * time.Second}.MigrateTimeout(5*time.Second), "a cap above it changes nothing")
	assert.Equal(t, 100*time.Millisecond, Topology{NodeTimeout: 100 * time.Millisecond}.MigrateTimeout(0))
	c := Config{}.WithDefaults()
	assert.Less(t, Topology{}.MigrateTimeout(c.MigrateTimeout), DefaultNodeTimeout/2)
}
