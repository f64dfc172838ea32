package rediscluster

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
)

// view is what the planner derives once from a snapshot: which reachable node has which ID,
// who owns each slot, and the master of each shard.
type view struct {
	t Topology
	s Snapshot
	// byID: node ID → index in s.Nodes of the reachable pod that answers with it.
	byID map[string]int
	// owner: slot → ID of the master that owns it in the view with the highest config epoch
	// ("" when no reachable node's view assigns it).
	owner [NumSlots]string
	// claimed: some line of some view names the slot (owned, migrating or importing).
	claimed [NumSlots]bool
	// halfMoved are the slots with a migrating or importing marker.
	halfMoved map[int]move
	// masters: shard → index in s.Nodes of its master (reachable).
	masters map[int]int
	// owned: node ID → slots it owns.
	owned map[string][]int
}

// move is one half-migrated slot as the markers show it.
type move struct{ from, to string }

func newView(t Topology, s Snapshot) *view {
	v := &view{t: t, s: s, byID: map[string]int{}, halfMoved: map[int]move{}, masters: map[int]int{},
		owned: map[string][]int{}}
	var epoch [NumSlots]int64
	migrating := map[int]map[string]string{} // slot → node → the target its marker names
	importing := map[int]map[string]bool{}   // slot → nodes with an importing marker
	for i, n := range s.Nodes {
		if !n.Reachable() {
			continue
		}
		v.byID[n.ID] = i
		for _, c := range n.View {
			for _, r := range c.Slots {
				for slot := r.Start; slot <= r.End; slot++ {
					v.claimed[slot] = true
					if c.Master && (v.owner[slot] == "" || c.Epoch > epoch[slot]) {
						v.owner[slot], epoch[slot] = c.ID, c.Epoch
					}
				}
			}
			if !c.Myself {
				continue // markers are shown on the node's own line only
			}
			for slot, to := range c.Migrating {
				v.claimed[slot] = true
				if migrating[slot] == nil {
					migrating[slot] = map[string]string{}
				}
				migrating[slot][c.ID] = to
			}
			for slot := range c.Importing {
				v.claimed[slot] = true
				if importing[slot] == nil {
					importing[slot] = map[string]bool{}
				}
				importing[slot][c.ID] = true
			}
		}
	}
	for slot, id := range v.owner {
		if id != "" {
			v.owned[id] = append(v.owned[id], slot)
		}
	}
	for slot := range migrating {
		v.halfMoved[slot] = v.resumeOf(slot, migrating[slot], importing[slot])
	}
	for slot := range importing {
		v.halfMoved[slot] = v.resumeOf(slot, migrating[slot], importing[slot])
	}
	v.pickMasters()
	return v
}

// resumeOf is how a half-moved slot is finished, from its markers: always from the current
// owner (v.owner: after a failover of the source, the promoted replica, which has no marker),
// to the one node the markers name as target: the importing node, the target of the owner's
// migrating marker; they must agree. A migrating marker left on a node that is not the owner
// any more and names the owner is a move whose last step (SETSLOT NODE on the source) is
// missing: it is finished from that node (the target answers "already the owner"). Any other
// combination (no owner, two targets) is not resumed: the slot stays half-moved in the report.
func (v *view) resumeOf(slot int, migrating map[string]string, importing map[string]bool) move {
	owner := v.owner[slot]
	if owner == "" {
		return move{}
	}
	targets := map[string]bool{}
	if to, ok := migrating[owner]; ok {
		targets[to] = true
	}
	for id := range importing {
		targets[id] = true
	}
	delete(targets, owner)
	if len(targets) == 0 {
		for from, to := range migrating {
			if from != owner && to == owner {
				return move{from: from, to: owner}
			}
		}
		return move{}
	}
	if len(targets) > 1 {
		return move{}
	}
	for to := range targets {
		return move{from: owner, to: to}
	}
	return move{}
}

// pickMasters chooses the master of each shard among its reachable pods: the master that owns
// slots (the highest epoch if two claim it), else, for a shard without slots, the master holding
// data, else the lowest ordinal.
func (v *view) pickMasters() {
	for i, n := range v.s.Nodes {
		if !n.Reachable() || !n.isMaster() {
			continue
		}
		k := n.Node.Shard
		j, ok := v.masters[k]
		if !ok || v.better(i, j) {
			v.masters[k] = i
		}
	}
	// A shard whose slots are held by a master that does not answer (or that a view flags fail
	// or fail?) has no master to follow but that one: its replicas wait for Redis Cluster to
	// promote one of them, and are never pointed at an empty node of the shard meanwhile.
	for _, n := range v.s.Nodes {
		self, _ := n.Self()
		if !n.Reachable() || !self.Replica || len(v.owned[self.MasterID]) == 0 {
			continue
		}
		if v.answersHealthy(self.MasterID) {
			continue
		}
		if i, ok := v.masters[n.Node.Shard]; ok && len(v.owned[v.s.Nodes[i].ID]) == 0 {
			delete(v.masters, n.Node.Shard)
		}
	}
}

// answersHealthy: the node id answers and no view flags it fail or fail?.
func (v *view) answersHealthy(id string) bool {
	if _, ok := v.byID[id]; !ok {
		return false
	}
	for _, n := range v.s.Nodes {
		if !n.Reachable() {
			continue
		}
		if c, ok := n.Knows(id); ok && (c.Fail || c.PFail) {
			return false
		}
	}
	return true
}

// soleCopy tells why replica n must keep following master: master owns slots and does not
// answer, is flagged fail or fail? by some view, or has no other replica in sync. Redis
// Cluster promotes such a replica when the master fails; CLUSTER REPLICATE would flush the
// only other copy of the master's slots. "" when n may be repointed.
func (v *view) soleCopy(n NodeState, master string) string {
	if len(v.owned[master]) == 0 {
		return ""
	}
	if !v.answersHealthy(master) {
		return fmt.Sprintf("its master %s owns %d slots and does not answer or is flagged fail/fail?", master, len(v.owned[master]))
	}
	for _, o := range v.s.Nodes {
		self, _ := o.Self()
		if o.Reachable() && o.ID != n.ID && self.Replica && self.MasterID == master && o.Repl.LinkUp {
			return ""
		}
	}
	return fmt.Sprintf("it is the only replica in sync of %s, which owns %d slots", master, len(v.owned[master]))
}

// holdsACopy: n replicates a master that owns slots and that master is of n's own shard, or n
// is a copy that must not go (soleCopy). A drained leaving node that Redis made a replica of
// an active, healthy master with another replica in sync holds no needed copy.
func (v *view) holdsACopy(n NodeState) bool {
	self, _ := n.Self()
	if !self.Replica || len(v.owned[self.MasterID]) == 0 {
		return false
	}
	if i, ok := v.byID[self.MasterID]; !ok || v.s.Nodes[i].Node.Shard == n.Node.Shard {
		return true
	}
	return v.soleCopy(n, self.MasterID) != ""
}

// better: pod i is a better master for its shard than pod j.
func (v *view) better(i, j int) bool {
	a, b := v.s.Nodes[i], v.s.Nodes[j]
	oa, ob := len(v.owned[a.ID]), len(v.owned[b.ID])
	if (oa > 0) != (ob > 0) {
		return oa > 0
	}
	if oa > 0 {
		sa, _ := a.Self()
		sb, _ := b.Self()
		return sa.Epoch > sb.Epoch
	}
	if (a.Keys > 0) != (b.Keys > 0) {
		return a.Keys > 0
	}
	return a.Node.Ordinal < b.Node.Ordinal
}

// master is the state of shard k's master; false when no reachable pod of it is a master.
func (v *view) master(k int) (NodeState, bool) {
	i, ok := v.masters[k]
	if !ok {
		return NodeState{}, false
	}
	return v.s.Nodes[i], true
}

// ownsSlots: the node owns slots in the agreed view, or claims some in its own.
func (v *view) ownsSlots(n NodeState) bool {
	return len(v.owned[n.ID]) > 0 || n.ownSlots() > 0
}

// Plan is the writes that bring the cluster of t, as observed in s, closer to the topology.
// It is pure: same input, same output. Rules, in order (docs/redis-cluster-healer.md):
//
//  1. finish every half-migrated slot (migrating/importing markers) before any other slot move;
//  2. MEET, through one seed, every pod the seed does not know (or knows at another address);
//  3. when slots are unassigned and every master candidate answers: ADDSLOTSRANGE, shard k its
//     k-th part of an even split, never a slot that any node claims;
//  4. CLUSTER REPLICATE every other node of a shard to the shard's master, once they know each
//     other, never a node holding slots or keys;
//  5. FORGET, on every node, the IDs of drained leaving nodes and of nodes replaced at another
//     address;
//  6. once the cluster is settled, move slots so each active shard holds its even share and the
//     leaving shards none;
//  7. rollout: CLUSTER FAILOVER to an updated in-sync replica of an outdated master (to an
//     outdated one when the master is on its shard's last ordinal, which no partition reaches
//     first), one shard at a time, only when nothing else is to do and the master knows the
//     replica as its own (canHandOver).
func Plan(t Topology, s Snapshot) []Action {
	v := newView(t, s)
	var acts []Action
	resumes := v.planResumes()
	acts = append(acts, resumes...)
	meets := v.planMeets()
	acts = append(acts, meets...)
	adds := v.planAddSlots()
	acts = append(acts, adds...)
	acts = append(acts, v.planReplicate()...)
	acts = append(acts, v.planForget()...)
	if len(resumes) == 0 && len(meets) == 0 && len(adds) == 0 {
		moves := v.planRebalance()
		acts = append(acts, moves...)
		if len(acts) == 0 {
			acts = append(acts, v.planFailover()...)
		}
	}
	return acts
}

// planResumes finishes half-migrated slots: grouped by source and target, in slot order.
func (v *view) planResumes() []Action {
	groups := map[move][]int{}
	for slot, m := range v.halfMoved {
		if m.from == "" || m.to == "" {
			continue
		}
		groups[m] = append(groups[m], slot)
	}
	var keys []move
	for p := range groups {
		keys = append(keys, p)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].from != keys[j].from {
			return keys[i].from < keys[j].from
		}
		return keys[i].to < keys[j].to
	})
	var out []Action
	for _, p := range keys {
		si, sok := v.byID[p.from]
		ti, tok := v.byID[p.to]
		if !sok || !tok {
			continue // a side does not answer: the report shows the slot as migrating
		}
		slots := groups[p]
		sort.Ints(slots)
		out = append(out, MoveSlots{Source: v.s.Nodes[si].Node.Pod, SourceID: p.from, Target: v.s.Nodes[ti].Node.Pod,
			TargetID: p.to, Slots: slots, Resume: true,
			Why: fmt.Sprintf("%d slots are half-migrated (migrating/importing markers): finishing them before any other move", len(slots))})
	}
	return out
}

// member tells whether pod n should be part of the cluster: not terminating, and not a node of
// a leaving shard that holds no slots.
func (v *view) member(n NodeState) bool {
	if n.Node.Terminating {
		return false
	}
	return !v.t.Leaving(n.Node.Shard) || v.ownsSlots(n)
}

// seed is the pod that MEETs the others: a member owning slots with the largest view, else the
// member with the largest view; -1 when no member answers.
func (v *view) seed() int {
	best := -1
	for i, n := range v.s.Nodes {
		if !n.Reachable() || !v.member(n) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := v.s.Nodes[best]
		if (len(v.owned[n.ID]) > 0) != (len(v.owned[b.ID]) > 0) {
			if len(v.owned[n.ID]) > 0 {
				best = i
			}
			continue
		}
		if len(n.View) > len(b.View) {
			best = i
		}
	}
	return best
}

func (v *view) planMeets() []Action {
	si := v.seed()
	if si < 0 {
		return nil
	}
	seed := v.s.Nodes[si]
	var out []Action
	for i, n := range v.s.Nodes {
		if i == si || !n.Reachable() || !v.member(n) || n.ID == seed.ID {
			continue
		}
		port := n.Node.port()
		line, known := seed.Knows(n.ID)
		if !known && v.refuseMeet(seed, n) != "" {
			continue // two clusters are never merged: the report says why
		}
		_, knowsSeed := n.Knows(seed.ID)
		var why string
		switch {
		case !known && seed.handshakeTo(n.Node.IP, port):
			continue // a MEET is under way
		case !known:
			why = fmt.Sprintf("%s (%s) is not in the view of the seed %s", n.Node.Pod, n.ID, seed.Node.Pod)
		case line.IP != n.Node.IP || line.Port != port:
			why = fmt.Sprintf("the seed %s knows %s (%s) at %s:%d, the pod is at %s", seed.Node.Pod, n.Node.Pod, n.ID,
				line.IP, line.Port, n.Node.Addr())
		case !knowsSeed:
			why = fmt.Sprintf("%s (%s) does not know the seed %s", n.Node.Pod, n.ID, seed.Node.Pod)
		default:
			continue
		}
		out = append(out, Meet{Pod: seed.Node.Pod, Peer: n.Node.Pod, IP: n.Node.IP, Port: port, Why: why})
	}
	return out
}

// refuseMeet tells why n, which the seed does not know, must not be met; "" when it may be.
// Every line of n's view that owns slots is checked against the seed's view (a slot the seed's
// cluster gives to another node: meeting them would leave Redis to pick one owner by epoch and
// drop the other's keys), and n must not know nodes the seed does not know (n belongs to
// another cluster: merging it would pull that cluster's nodes in too).
func (v *view) refuseMeet(seed, n NodeState) string {
	var seedOwner [NumSlots]string
	for _, c := range seed.View {
		for _, r := range c.Slots {
			for slot := r.Start; slot <= r.End; slot++ {
				seedOwner[slot] = c.ID
			}
		}
	}
	var unknown []string
	for _, c := range n.View {
		if c.Handshake || c.ID == n.ID {
			continue
		}
		if _, ok := seed.Knows(c.ID); !ok {
			unknown = append(unknown, c.ID)
		}
	}
	for _, c := range n.View {
		if c.Handshake {
			continue
		}
		for _, r := range c.Slots {
			for slot := r.Start; slot <= r.End; slot++ {
				if seedOwner[slot] != "" && seedOwner[slot] != c.ID {
					return fmt.Sprintf("%s's view gives slot %d to %s, %s's cluster to %s: not met (two owners for one slot)",
						n.Node.Pod, slot, c.ID, seed.Node.Pod, seedOwner[slot])
				}
			}
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Sprintf("%s knows %d nodes that %s does not (%v): another cluster, not met", n.Node.Pod, len(unknown),
			seed.Node.Pod, unknown)
	}
	return ""
}

// Conflicts lists the pods that are not met because they belong to another cluster (their
// view gives slots the seed's cluster holds to other nodes, or lists nodes the seed does not
// know): the report lists them as errors.
func Conflicts(t Topology, s Snapshot) []string {
	v := newView(t, s)
	si := v.seed()
	if si < 0 {
		return nil
	}
	seed := v.s.Nodes[si]
	var out []string
	for i, n := range v.s.Nodes {
		if i == si || !n.Reachable() || !v.member(n) || n.ID == seed.ID {
			continue
		}
		if _, known := seed.Knows(n.ID); !known {
			if why := v.refuseMeet(seed, n); why != "" {
				out = append(out, why)
			}
		}
	}
	return out
}

// shardRange is shard k's part of an even split of the slots among n shards.
func shardRange(k, n int) SlotRange {
	return SlotRange{k * NumSlots / n, (k+1)*NumSlots/n - 1}
}

// planAddSlots assigns the slots no node claims to the master candidate of the shard whose part
// of the even split holds them, once every active shard has a candidate that answers.
func (v *view) planAddSlots() []Action {
	n := v.t.NumberOfMaster
	if n <= 0 {
		return nil
	}
	var free []int
	for slot, c := range v.claimed {
		if !c {
			free = append(free, slot)
		}
	}
	if len(free) == 0 {
		return nil
	}
	if len(v.byID) == 0 {
		return nil
	}
	cands := make([]NodeState, n)
	isCand := map[string]bool{}
	for k := range n {
		c, ok := v.candidate(k)
		if !ok {
			return nil // every candidate must answer: the split is made at once
		}
		cands[k] = c
		isCand[c.ID] = true
	}
	bootstrap := len(free) == NumSlots
	if bootstrap {
		// No slot anywhere, as far as the answering pods know. A pod that does not answer may
		// be a master of a cluster whose other nodes are not in this snapshot: assigning now
		// could make two owners of every slot. So every pod of the topology must answer, know
		// no slot owner, and hold no key unless it is a candidate.
		for _, p := range v.s.Nodes {
			if !p.Reachable() {
				return nil
			}
			for _, c := range p.View {
				if len(c.Slots) > 0 || len(c.Migrating) > 0 || len(c.Importing) > 0 {
					return nil
				}
			}
			if p.Keys > 0 && !isCand[p.ID] {
				return nil
			}
		}
	}
	var out []Action
	for k := range n {
		m := cands[k]
		r := shardRange(k, n)
		var mine []int
		for _, slot := range free {
			if slot >= r.Start && slot <= r.End {
				mine = append(mine, slot)
			}
		}
		if len(mine) == 0 {
			continue
		}
		why := fmt.Sprintf("no slot is assigned anywhere: shard %d gets part %d of %d of an even split", k, k+1, n)
		if !bootstrap {
			why = fmt.Sprintf("%d slots of shard %d's part are claimed by no node", len(mine), k)
		}
		out = append(out, AddSlots{Pod: m.Node.Pod, Slots: Ranges(mine), Why: why})
	}
	return out
}

// candidate is the master that receives shard k's slots: its master when it owns slots, else
// the master holding data, else the pod of the lowest ordinal, which must answer as a master.
func (v *view) candidate(k int) (NodeState, bool) {
	m, ok := v.master(k)
	if !ok {
		return NodeState{}, false
	}
	if len(v.owned[m.ID]) > 0 || m.Keys > 0 {
		return m, true
	}
	first := -1
	for i, n := range v.s.Nodes {
		if n.Node.Shard == k && (first < 0 || n.Node.Ordinal < v.s.Nodes[first].Node.Ordinal) {
			first = i
		}
	}
	if first < 0 || v.s.Nodes[first].ID != m.ID {
		return NodeState{}, false
	}
	return m, true
}

// planReplicate points every other pod of a shard at the shard's master.
func (v *view) planReplicate() []Action {
	var out []Action
	for _, n := range v.s.Nodes {
		if !n.Reachable() || n.Node.Terminating || v.t.Leaving(n.Node.Shard) {
			continue
		}
		m, ok := v.master(n.Node.Shard)
		if !ok || m.ID == n.ID {
			continue
		}
		self, _ := n.Self()
		if self.Replica && self.MasterID == m.ID {
			continue
		}
		if v.ownsSlots(n) || n.Keys > 0 && self.Master {
			continue // a master with slots or data is never made a replica (Redis refuses anyway)
		}
		if self.Replica && v.soleCopy(n, self.MasterID) != "" {
			// Never repointed: Redis promotes it if its master fails, and REPLICATE would flush
			// it. This also tolerates Redis' replica migration (a spare replica of another shard
			// moved under an orphaned master): it comes back once that master has another replica.
			continue
		}
		if _, ok := m.Knows(n.ID); !ok {
			continue // MEET first
		}
		if _, ok := n.Knows(m.ID); !ok {
			continue
		}
		why := fmt.Sprintf("%s is a master without slots in shard %d, whose master is %s", n.Node.Pod, n.Node.Shard, m.Node.Pod)
		if self.Replica {
			why = fmt.Sprintf("%s replicates %s, not its shard %d's master %s", n.Node.Pod, self.MasterID, n.Node.Shard, m.Node.Pod)
		}
		out = append(out, Replicate{Pod: n.Node.Pod, MasterPod: m.Node.Pod, MasterID: m.ID, Why: why})
	}
	return out
}

// planForget forgets, on every node that still lists it, the ID of a leaving node that holds
// no slot, and the ID of a failed node whose pod answers with another ID or is gone.
func (v *view) planForget() []Action {
	stale := map[string]string{} // id → why
	// Pods by address, to tell a replaced node.
	byAddr := map[string]NodeState{}
	for _, n := range v.s.Nodes {
		if n.Node.IP != "" {
			byAddr[n.Node.Addr()] = n
		}
	}
	busy := func(id string) bool {
		if len(v.owned[id]) > 0 {
			return true
		}
		for _, m := range v.halfMoved {
			if m.from == id || m.to == id {
				return true
			}
		}
		return false
	}
	// A shard is busy while one of its pods does not answer (it may own slots), while any view
	// shows a line owning slots at one of its pods' addresses, or while one of its nodes owns
	// slots, is part of a half-done move or replicates a master that owns slots: none of its
	// nodes is forgotten or reset then.
	shardBusy := map[int]bool{}
	shardOf := map[string]int{} // pod address → shard
	for _, n := range v.s.Nodes {
		if n.Node.IP != "" {
			shardOf[n.Node.Addr()] = n.Node.Shard
		}
		if !n.Reachable() {
			shardBusy[n.Node.Shard] = true
			continue
		}
		if v.ownsSlots(n) || busy(n.ID) || v.holdsACopy(n) {
			shardBusy[n.Node.Shard] = true
		}
	}
	for _, n := range v.s.Nodes {
		if !n.Reachable() {
			continue
		}
		for _, c := range n.View {
			if len(c.Slots) == 0 {
				continue
			}
			if k, ok := shardOf[fmt.Sprintf("%s:%d", c.IP, c.Port)]; ok {
				shardBusy[k] = true
			}
		}
	}
	for _, n := range v.s.Nodes {
		if n.Reachable() && v.t.Leaving(n.Node.Shard) && !shardBusy[n.Node.Shard] {
			stale[n.ID] = fmt.Sprintf("%s is in leaving shard %d, whose nodes hold no slot any more", n.Node.Pod, n.Node.Shard)
		}
	}
	for _, n := range v.s.Nodes {
		if !n.Reachable() {
			continue
		}
		for _, c := range n.View {
			if c.Handshake || c.Myself || busy(c.ID) {
				continue
			}
			if _, ok := v.byID[c.ID]; ok {
				continue // a pod answers with it
			}
			if _, ok := stale[c.ID]; ok {
				continue
			}
			addr := fmt.Sprintf("%s:%d", c.IP, c.Port)
			pod, isPod := byAddr[addr]
			switch {
			case c.IP == "" || c.NoAddr:
				stale[c.ID] = fmt.Sprintf("node %s has no address and no pod answers with its ID", c.ID)
			case isPod && pod.Reachable():
				stale[c.ID] = fmt.Sprintf("node %s was at %s, where %s now answers as %s", c.ID, addr, pod.Node.Pod, pod.ID)
			case !isPod && c.Fail:
				stale[c.ID] = fmt.Sprintf("node %s failed at %s, which is no pod's address any more", c.ID, addr)
			case isPod && v.t.Leaving(pod.Node.Shard) && c.Fail:
				stale[c.ID] = fmt.Sprintf("node %s of leaving pod %s failed", c.ID, pod.Node.Pod)
			}
		}
	}
	// A leaving node that every active node forgot but that still knows others is reset.
	known := map[string]bool{}
	for _, n := range v.s.Nodes {
		if n.Reachable() && !v.t.Leaving(n.Node.Shard) {
			for _, c := range n.View {
				known[c.ID] = true
			}
		}
	}
	var resets []Action
	for _, n := range v.s.Nodes {
		if v.holdsACopy(n) {
			continue // never reset a replica that may hold the last copy of some slots
		}
		if _, ok := stale[n.ID]; ok && n.Reachable() && v.t.Leaving(n.Node.Shard) && !shardBusy[n.Node.Shard] &&
			!known[n.ID] && len(n.View) > 1 {
			resets = append(resets, Reset{Pod: n.Node.Pod, Why: fmt.Sprintf("%s left the cluster (every active node forgot it) but still knows %d nodes",
				n.Node.Pod, len(n.View)-1)})
		}
	}
	var ids []string
	for id := range stale {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []Action
	for _, id := range ids {
		for _, n := range v.s.Nodes {
			if !n.Reachable() || n.ID == id || v.t.Leaving(n.Node.Shard) {
				continue
			}
			if _, ok := n.Knows(id); !ok {
				continue
			}
			if self, _ := n.Self(); self.MasterID == id {
				continue // Redis refuses to forget one's master: reattached first (rule 4)
			}
			out = append(out, Forget{Pod: n.Node.Pod, NodeID: id, Why: stale[id] + ": forgotten on every node within the 60 s ban"})
		}
	}
	return append(out, resets...)
}

// settled: every active shard's master answers, every answering member says cluster_state ok,
// all 16384 slots are owned and none is half-migrated.
func (v *view) settled() bool {
	for k := range v.t.NumberOfMaster {
		if _, ok := v.master(k); !ok {
			return false
		}
	}
	for _, n := range v.s.Nodes {
		if n.Reachable() && v.member(n) && n.Info.State != "ok" {
			return false
		}
	}
	for _, id := range v.owner {
		if id == "" {
			return false
		}
	}
	return len(v.halfMoved) == 0
}

// Shares are the slots each of n active shards holds once balanced (shard k: the size of its
// part of the even split).
func Shares(n int) []int {
	out := make([]int, n)
	for k := range n {
		out[k] = shardRange(k, n).Len()
	}
	return out
}

// planRebalance moves slots so that every active shard holds its share and every leaving one
// none: the leaving shards give all of theirs, the active shards above their share give their
// highest slots, the shards below receive, in shard order.
func (v *view) planRebalance() []Action {
	n := v.t.NumberOfMaster
	if n <= 0 || !v.settled() {
		return nil
	}
	shares := Shares(n)
	type donor struct {
		k     int
		m     NodeState
		slots []int
	}
	var donors []donor
	need := make([]int, n)
	var shardsWithSlots []int
	for k := range v.masters {
		shardsWithSlots = append(shardsWithSlots, k)
	}
	sort.Ints(shardsWithSlots)
	for _, k := range shardsWithSlots {
		m, _ := v.master(k)
		owned := v.owned[m.ID]
		switch {
		case v.t.Leaving(k):
			if len(owned) > 0 {
				donors = append(donors, donor{k, m, owned})
			}
		case len(owned) > shares[k]:
			donors = append(donors, donor{k, m, owned[shares[k]:]})
		default:
			need[k] = shares[k] - len(owned)
		}
	}
	var out []Action
	r := 0
	for _, d := range donors {
		slots := d.slots
		for len(slots) > 0 {
			for r < n && need[r] == 0 {
				r++
			}
			if r == n {
				return out // more to give than to take: slots owned by nodes outside the shards
			}
			take := min(need[r], len(slots))
			tm, _ := v.master(r)
			why := fmt.Sprintf("shard %d holds %d slots, its share of %d shards is %d", d.k, len(v.owned[d.m.ID]), n, shares[min(d.k, n-1)])
			if v.t.Leaving(d.k) {
				why = fmt.Sprintf("shard %d is leaving (numberOfMaster %d): its slots go to the remaining shards", d.k, n)
			}
			out = append(out, MoveSlots{Source: d.m.Node.Pod, SourceID: d.m.ID, Target: tm.Node.Pod, TargetID: tm.ID,
				Slots: append([]int(nil), slots[:take]...),
				Why:   fmt.Sprintf("%s; shard %d lacks %d of its %d", why, r, need[r], shares[r])})
			need[r] -= take
			slots = slots[take:]
		}
	}
	return out
}

// planFailover is the rollout's planned failover: the first active shard whose master pod is
// outdated and has an updated replica in sync gets CLUSTER FAILOVER on that replica, only when
// every active shard has a replica in sync (the previous switch is over) and the two can start
// a manual failover (canHandOver); until then it waits.
func (v *view) planFailover() []Action {
	if !v.settled() {
		return nil
	}
	insync := map[int][]NodeState{}
	for _, n := range v.s.Nodes {
		if !n.Reachable() || n.Node.Terminating {
			continue
		}
		m, ok := v.master(n.Node.Shard)
		self, _ := n.Self()
		if ok && self.Replica && self.MasterID == m.ID && n.Repl.LinkUp {
			insync[n.Node.Shard] = append(insync[n.Node.Shard], n)
		}
	}
	if v.t.ReplicationFactor == 0 {
		return nil
	}
	for k := range v.t.NumberOfMaster {
		if len(insync[k]) == 0 {
			return nil
		}
	}
	for k := range v.t.NumberOfMaster {
		m, _ := v.master(k)
		if m.Node.Updated {
			continue
		}
		for _, r := range insync[k] {
			if r.Node.Updated {
				if !canHandOver(m, r) {
					return nil
				}
				return []Action{Failover{Pod: r.Node.Pod, MasterPod: m.Node.Pod,
					Why: fmt.Sprintf("rollout: master %s of shard %d is outdated, its replica %s is updated and in sync", m.Node.Pod, k, r.Node.Pod)}}
			}
		}
		if v.topOrdinal(m.Node) {
			// The shard's partition (its master's ordinal + 1) updates only the pods above the
			// master, and there are none (a former hand-over left the master on the last
			// ordinal): the master moves to an outdated replica first, and its pod is updated
			// as a replica.
			r := slices.MaxFunc(insync[k], func(a, b NodeState) int { return cmp.Compare(a.Node.Ordinal, b.Node.Ordinal) })
			if !canHandOver(m, r) {
				return nil
			}
			return []Action{Failover{Pod: r.Node.Pod, MasterPod: m.Node.Pod,
				Why: fmt.Sprintf("rollout: master %s of shard %d is outdated and on the shard's last ordinal, so its StatefulSet updates no pod before it moves; its replica %s is in sync", m.Node.Pod, k, r.Node.Pod)}}
		}
	}
	return nil
}

// canHandOver tells whether CLUSTER FAILOVER on replica r can start a manual failover from its
// master m: r sends its request (MFSTART) on its cluster-bus link to m, and m acts on it only
// when its own view has r as its replica; otherwise m ignores it, and Redis gives up after 5 s
// ("Manual failover timed out"). Right after a CLUSTER REPLICATE or a previous switch, r can
// replicate m (link up) before m has heard of it by gossip; seen in CI under load.
func canHandOver(m, r NodeState) bool {
	mr, ok := m.Knows(r.ID)
	if !ok || !mr.Replica || mr.MasterID != m.ID || !mr.Connected {
		return false
	}
	rm, ok := r.Knows(m.ID)
	return ok && rm.Connected
}

// topOrdinal tells whether n has the highest ordinal of its shard's pods.
func (v *view) topOrdinal(n Node) bool {
	for _, o := range v.t.Nodes {
		if o.Shard == n.Shard && o.Ordinal > n.Ordinal {
			return false
		}
	}
	return true
}
