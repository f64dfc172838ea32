package decision

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redhook/redhook/hooks"
)

// Plan decides what to write to converge one RedisFailover, from its topology and a snapshot
// just read. It is pure: same input, same actions. The rules are the healer rules 1 to 15
// ("Healer rules" in docs/architecture.md, docs/healer.md); each action says which one applied in
// its Reason. Actions are in the order the healer must apply them: promotion first, then
// replicas, then sentinels, then settings.
func Plan(t hooks.Topology, o Snapshot) []Action {
	v := newView(t, o)
	// Rule 15, closing the connections of clients that write to a replica (clients.go), is no
	// replication change: it runs whatever the other rules decide, even while Sentinel fails over.
	acts := v.plan()
	return append(acts, v.closeMisdirected(acts)...)
}

// plan applies the rules 1 to 14.
func (v *view) plan() []Action {
	t := v.t
	// Rule 1: while Sentinel fails over, anything we write could fight it; unless its failover
	// stalled without a master (race.go).
	if v.failoverInProgress() {
		if t.Bootstrap == nil && v.failoverStalled() {
			return v.promoteStalled()
		}
		if t.Bootstrap == nil && v.electionDoomed() {
			return v.promoteDoomed()
		}
		return nil
	}
	// Rule 10: bootstrap mode follows the external node and nothing else.
	if t.Bootstrap != nil {
		return v.bootstrap()
	}
	e := v.elect()
	if e.failover != nil {
		return []Action{*e.failover}
	}
	if e.wait != "" {
		return []Action{Wait{Why: e.wait}}
	}
	if e.hold != "" {
		// Rule 16: a lost master not proven failed yet. Replication is left as it is.
		return append(v.redisConfig(), Wait{Why: e.hold, Detecting: e.detecting})
	}
	var acts []Action
	if e.master != nil {
		if e.promote {
			acts = append(acts, Promote{Pod: e.master.Pod.Name, Why: e.why})
		}
		acts = append(acts, v.replicas(e)...)
		if t.SentinelsEnabled {
			acts = append(acts, v.sentinels(e)...)
		}
	}
	acts = append(acts, v.redisConfig()...)
	if e.steer {
		// Rule 13: the master is gone and Sentinel will pick the replica to promote.
		steer := v.steer(e.named)
		if len(steer) == 0 && e.named != nil {
			// Rule 11 held back: the priorities are right, the sentinel has not read them yet.
			steer = []Action{Wait{Why: e.why}}
		}
		acts = append(acts, steer...)
	} else if sw, due := v.plannedSwitchover(e); due {
		// Rule 14: a rollout or a scale-down needs the master elsewhere. The switchover itself
		// runs only in a pass with nothing else to do.
		if _, isSwitch := sw[0].(Switchover); !isSwitch || len(acts) == 0 {
			acts = append(acts, sw...)
		}
	} else {
		acts = append(acts, v.restorePriorities()...)
	}
	return append(acts, v.sentinelDebug()...)
}

// view indexes a topology and a snapshot for the rules.
type view struct {
	t     hooks.Topology
	o     Snapshot
	byIP  map[string]*RedisNode
	isSen map[string]bool
}

func newView(t hooks.Topology, o Snapshot) *view {
	v := &view{t: t, o: o, byIP: map[string]*RedisNode{}, isSen: map[string]bool{}}
	for i := range v.o.Redis {
		if ip := v.o.Redis[i].Pod.IP; ip != "" {
			v.byIP[ip] = &v.o.Redis[i]
		}
	}
	for _, s := range t.Sentinels {
		if s.IP != "" {
			v.isSen[s.IP] = true
		}
	}
	return v
}

// pod returns the redis pod of this RedisFailover listening at host:port, or nil: an address
// that is not one of our pods is never followed (pod IPs are reused across RedisFailovers).
func (v *view) pod(host string, port int32) *RedisNode {
	if port != v.t.RedisPort {
		return nil
	}
	return v.byIP[host]
}

func (v *view) endpoint(n *RedisNode) hooks.Endpoint {
	return hooks.Endpoint{Host: n.Pod.IP, Port: v.t.RedisPort}
}

func (v *view) reachableRedis() []*RedisNode {
	var out []*RedisNode
	for i := range v.o.Redis {
		if n := &v.o.Redis[i]; n.Reachable() {
			out = append(out, n)
		}
	}
	return out
}

// failoverInProgress tells whether a sentinel runs a failover that can promote a pod of ours
// (rule 1 waits for it).
func (v *view) failoverInProgress() bool {
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if s.Reachable() && s.Master != nil && s.Master.FailoverInProgress() && !v.failoverOfGone(s) {
			return true
		}
	}
	return false
}

// failoverOfGone tells whether s fails over a master whose host is no pod of ours while no
// replica it knows is on the host of one of ours either (any port: during a port change, pods
// still listen on the old one), and every pod of ours answers (each has an address, and none
// that the healer cannot read may hold more data or sit at an address Sentinel knows): every
// redis pod replaced at a new address at once, say, the new ones booting as replicas of the
// placeholder, which Sentinel never discovers (it learns replicas only from its master's INFO).
// Such a failover can promote nothing that exists: Sentinel aborts it (no good replica) and
// tries again every 2 × failover-timeout, for ever, and a healer that waited for it would never
// promote (a clean-clone CI run: 6 minutes without a master). Nothing the healer does can meet
// it, and the pass that promotes also re-points that sentinel (rule 7: SENTINEL REMOVE, then
// MONITOR), which ends it.
func (v *view) failoverOfGone(s *SentinelNode) bool {
	if len(v.reachableRedis()) < len(v.t.Redis) || v.byIP[s.Master.IP] != nil {
		return false
	}
	for _, r := range s.Replicas {
		if v.byIP[r.IP] != nil {
			return false
		}
	}
	return true
}

// election is who the master is and how it was decided.
type election struct {
	// master is the chosen master; nil when there is none or Sentinel is about to act.
	master *RedisNode
	// promote: master is not a master yet and must be promoted.
	promote bool
	// agreed: a quorum of sentinels already monitors master.
	agreed bool
	// failover: rule 11, ask Sentinel to fail over at once instead.
	failover *SentinelFailover
	// steer: the master is gone and Sentinel is to promote a replica: rule 13 sets the
	// priorities so that it picks the one with the most data. named is the sentinels' master
	// when it restarted (rule 11 waits for the sentinel to read the priorities), else nil.
	steer bool
	named *RedisNode
	why   string
	// wait: nothing is decided on purpose, for the reason given (rule 4's first master).
	wait string
	// hold: rule 16 (sentinel-less mode) waits before failing over a lost master, for this
	// reason; held is that master when it is one of our pods (the report keeps naming it, so
	// that the master Service does not drop a master that may only be lost to the healer).
	hold      string
	held      *RedisNode
	detecting bool
}

// elect applies rules 2 to 5 and 11.
func (v *view) elect() election {
	if e, decided := v.sentinelElection(); decided {
		return e
	}
	if v.t.Sentinelless {
		if e, decided := v.sentinellessElection(); decided {
			return e
		}
	}
	masters := v.masters()
	if len(masters) == 1 {
		// Rule 3. A lone master with no replica and less data than a replica is a node that
		// restarted empty as master: never keep it, elect among every node below.
		m := masters[0]
		if m.Info.ConnectedReplicas > 0 || !holdsMore(v.best(nil), m) {
			return election{master: m, why: fmt.Sprintf("%s is the only master", m.Pod.Name)}
		}
	}
	if len(masters) > 1 {
		// Rule 5 without sentinel agreement: most connected replicas, then data.
		sort.SliceStable(masters, func(i, j int) bool {
			a, b := masters[i], masters[j]
			if v.t.Sentinelless && successor(a, b) != successor(b, a) {
				return successor(a, b) // rule 16: the promoted one, not the master it replaced
			}
			if a.Info.ConnectedReplicas != b.Info.ConnectedReplicas {
				return a.Info.ConnectedReplicas > b.Info.ConnectedReplicas
			}
			return electionLess(a, b)
		})
		m := masters[0]
		return election{master: m, why: fmt.Sprintf("%s has the most replicas (%d) and data (offset %d) of %d masters",
			m.Pod.Name, m.Info.ConnectedReplicas, m.Info.Offset, len(masters))}
	}
	// Rule 4: nobody is master and no sentinel can act: promote the node with the most data.
	best := v.best(nil)
	if best == nil {
		return election{}
	}
	if lower := v.lowerOrdinalBooting(best); lower != nil {
		return election{wait: fmt.Sprintf("no master and no data yet: waiting up to %v from its start for %s, so that the first master has the lowest ordinal (a rollout then needs one switchover, not two)",
			firstMasterWait, lower.Pod.Name)}
	}
	return election{master: best, promote: best.Info.Role != hooks.RoleMaster,
		why: fmt.Sprintf("no master: %s holds the most data (offset %d, %d keys)", best.Pod.Name, best.Info.Offset, best.Info.Keys)}
}

// sentinelElection applies rules 2 and 11. decided is false when the sentinels do not agree on
// one of our pods, or agree on a pod that is now a replica of another of our pods (they lag):
// the healer then decides itself.
func (v *view) sentinelElection() (e election, decided bool) {
	if !v.t.SentinelsEnabled {
		return election{}, false
	}
	addr, votes, ok := v.agreement()
	if !ok {
		return election{}, false
	}
	n := v.pod(addr.Host, addr.Port)
	if n == nil {
		return v.formerMaster(addr, votes)
	}
	agree := fmt.Sprintf("%d sentinels agree on %s", votes, n.Pod.Name)
	switch {
	case !n.Reachable() && v.sentinelsCanFailover(addr):
		// Sentinel will fail over on its own after down-after-milliseconds: its job.
		return election{steer: true, why: agree + ", which is unreachable: waiting for Sentinel"}, true
	case !n.Reachable():
		// The sentinels know no reachable replica (the master died before their first INFO
		// listed any): they would wait forever. The healer decides.
		return election{}, false
	case n.Info.Role == hooks.RoleMaster:
		if e, restarted := v.restartedAsMaster(addr, n, agree); restarted {
			return e, true
		}
		return election{master: n, agreed: true, why: agree}, true
	case v.pod(n.Info.MasterHost, n.Info.MasterPort) != nil:
		return election{}, false
	}
	// Rule 11: the sentinels' master restarted and booted as a replica (of the placeholder).
	// Sentinel alone would wait down-after + 2 INFO periods; a replica that holds as much data or
	// more must be promoted now, by Sentinel, so that every sentinel follows and clients hear
	// +switch-master. Also with as much data: Sentinel may be failing over already (the node was
	// down for longer than down-after), and promoting the node ourselves would then make a
	// second master, whose writes are lost when Sentinel's wins (seen in the chaos test).
	// SENTINEL FAILOVER during a failover is refused (INPROG) and does no harm.
	bootedFrom := hooks.Endpoint{Host: n.Info.MasterHost, Port: n.Info.MasterPort}.Address()
	if best := v.best(n); best != nil && !holdsMore(n, best) {
		than := "more"
		if !holdsMore(best, n) {
			than = "as much"
		}
		return v.failoverTo(addr, n, best, fmt.Sprintf(
			"%s: master %s restarted as a replica of %s (offset %d) while %s holds %s data (offset %d)",
			agree, n.Pod.Name, bootedFrom, n.Info.Offset, best.Pod.Name, than, best.Info.Offset)), true
	}
	// It holds more than every replica (restarted on its own data), or has none: make it master
	// again, unless Sentinel may be failing over already (race.go): then it promotes a replica,
	// steered, and only writes no replica confirmed are lost.
	if why := v.sentinelMayFailOver(addr); why != "" && v.sentinelsCanFailover(addr) {
		return election{steer: true, named: n, why: fmt.Sprintf(
			"%s, which restarted as a replica of %s and holds more data (offset %d) than any replica; not promoting it: %s: Sentinel promotes, steered by replica-priority",
			agree, bootedFrom, n.Info.Offset, why)}, true
	}
	return election{master: n, promote: true, agreed: true, why: fmt.Sprintf(
		"%s, which restarted as a replica of %s and holds more data (offset %d) than any replica", agree,
		bootedFrom, n.Info.Offset)}, true
}

// failoverTo is the action of rule 11: SENTINEL FAILOVER asked of a sentinel that can carry it
// out, so that Sentinel promotes and publishes +switch-master (Sentinel-aware clients connected
// to the restarted node named move only on that event). The sentinel must know best and, by its
// own order on what it last read (sentinelPick), promote a replica that holds as much data as
// best; otherwise rule 13 steers the priorities and the failover waits for the next pass (the
// sentinel reads them within sentinelInfoPeriod). When no sentinel can (every one in TILT, or
// none knows best as a replica it could promote), the healer promotes best itself: an empty
// node must never stay or become master, nor a replica with less data than another.
// The wait is bounded even if a sentinel never reads the priorities: Sentinel itself holds a
// master that reports role:slave for down-after + 2 INFO periods as down (D + 2 s with rule 12)
// and fails over, on the priorities rule 13 has set.
func (v *view) failoverTo(addr hooks.Endpoint, named, best *RedisNode, why string) election {
	// A sentinel that holds the master down, or may before our failover is over, may be
	// starting its own: a SENTINEL FAILOVER beside it can run in the same epoch and promote
	// another replica (race.go). Sentinel fails over by itself then; the healer only steers.
	if down := v.sentinelMayFailOver(addr); down != "" && v.sentinelsCanFailover(addr) {
		return election{steer: true, named: named, why: fmt.Sprintf(
			"%s; %s, and may be failing over already: Sentinel promotes, steered by replica-priority", why, down)}
	}
	var steerBy *SentinelNode
	var pick *RedisNode
	var seen SentinelPeer
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if s.Info.Tilt || !v.monitors(s, addr) {
			continue
		}
		if _, knowsBest := v.knowsReplica(s, best); !knowsBest {
			continue
		}
		p, peer := v.sentinelPick(s)
		if p != nil && p.Info.Offset >= best.Info.Offset {
			return election{failover: &SentinelFailover{Sentinel: s.Pod.Name, Why: why}}
		}
		if steerBy == nil {
			steerBy, pick, seen = s, p, peer
		}
	}
	if steerBy != nil {
		would := "no replica"
		if pick != nil {
			would = fmt.Sprintf("%s (priority %d, offset %d as it last read; offset %d now)",
				pick.Pod.Name, seen.Priority, seen.Offset, pick.Info.Offset)
		}
		return election{steer: true, named: named, why: fmt.Sprintf(
			"%s; not yet: %s would promote %s, not %s: steering with replica-priority", why, steerBy.Pod.Name, would, best.Pod.Name)}
	}
	return election{master: best, promote: best.Info.Role != hooks.RoleMaster, why: fmt.Sprintf(
		"%s; no sentinel can fail over to it (in TILT or not knowing it as a reachable replica): promoting %s", why, best.Pod.Name)}
}

// formerMaster: the sentinels agree on an address that is none of our pods. When none of our
// pods is master and the sentinels can fail over to our replicas, that address is our former
// master, whose pod is gone (deleted, even forcibly, or evicted: its replacement has another
// IP), and Sentinel must promote, so that clients hear +switch-master: a promotion by the healer
// followed by SENTINEL REMOVE and MONITOR publishes none, and on real pods Sentinel-aware
// clients then stayed on the dead address for minutes. The healer steers Sentinel's choice
// (rule 13) but does not ask for the failover: the old process may still run (a forced
// deletion leaves it the kubelet's minimum grace period, in which its preStop hook pauses writes
// and hands over), and a failover while it still takes writes loses those a replica still
// attached to it confirms (seen on real pods: 13 confirmed writes). Sentinel fails over once it
// holds the address down. Otherwise (a fresh start on the boot placeholder, a master of ours
// that rules 3 and 5 keep, sentinels that cannot fail over) the healer decides and then points
// the sentinels at its choice.
func (v *view) formerMaster(addr hooks.Endpoint, votes int) (election, bool) {
	best := v.best(nil)
	if best == nil || !v.sentinelsCanFailover(addr) {
		return election{}, false
	}
	if m := v.masters(); len(m) > 1 || len(m) == 1 && (m[0].Info.ConnectedReplicas > 0 || !holdsMore(best, m[0])) {
		return election{}, false // a master of ours that rules 3 and 5 keep
	}
	return election{steer: true, why: fmt.Sprintf(
		"%d sentinels agree on %s, which is no pod of this RedisFailover (its pod is gone): waiting for Sentinel to fail over",
		votes, addr.Address())}, true
}

// monitors tells whether s answered and monitors addr.
func (v *view) monitors(s *SentinelNode, addr hooks.Endpoint) bool {
	return s.Reachable() && s.Master != nil && s.Master.IP == addr.Host && s.Master.Port == addr.Port
}

// knowsReplica tells whether s knows a replica that is a reachable pod of ours and that it
// does not hold down (what Sentinel can promote), and whether best is one of them.
func (v *view) knowsReplica(s *SentinelNode, best *RedisNode) (knows, knowsBest bool) {
	for _, r := range s.Replicas {
		if r.HasFlag("s_down") || r.HasFlag("o_down") || r.HasFlag("disconnected") {
			continue
		}
		if p := v.pod(r.IP, r.Port); p != nil && p.Reachable() {
			knows = true
			knowsBest = knowsBest || p == best
		}
	}
	return knows, knowsBest
}

// sentinelsCanFailover tells whether Sentinel will fail over from addr on its own: enough
// reachable sentinels monitor it to reach ODOWN (quorum) and to elect a leader (a majority of
// the sentinels they know, Sentinel's own rule), and one of them, not in TILT, knows a reachable
// replica to promote. Otherwise no sentinel can act and rule 4 lets the healer decide.
func (v *view) sentinelsCanFailover(addr hooks.Endpoint) bool {
	monitoring, voters, able := 0, len(v.t.Sentinels), false
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !v.monitors(s, addr) {
			continue
		}
		monitoring++
		voters = max(voters, len(s.Sentinels)+1)
		if knows, _ := v.knowsReplica(s, nil); knows && !s.Info.Tilt {
			able = true
		}
	}
	return able && monitoring >= max(int(v.t.Quorum), voters/2+1, 1)
}

// restartedAsMaster is rule 11 for a master that restarted as master (a config without the
// placeholder): Sentinel still knows its previous run id and a replica holds more data.
func (v *view) restartedAsMaster(addr hooks.Endpoint, n *RedisNode, agree string) (election, bool) {
	var known string
	for i := range v.o.Sentinels {
		if s := &v.o.Sentinels[i]; v.monitors(s, addr) && s.Master.RunID != "" {
			known = s.Master.RunID
			break
		}
	}
	if known == "" || n.Info.RunID == "" || known == n.Info.RunID {
		return election{}, false
	}
	best := v.best(n)
	if best == nil || !holdsMore(best, n) {
		return election{}, false
	}
	return v.failoverTo(addr, n, best, fmt.Sprintf(
		"%s: master %s restarted (run id %.8s, sentinels knew %.8s) with offset %d while %s holds more data (offset %d)",
		agree, n.Pod.Name, n.Info.RunID, known, n.Info.Offset, best.Pod.Name, best.Info.Offset)), true
}

// agreement returns the master address that most reachable sentinels monitor, if at least a
// quorum of them do.
func (v *view) agreement() (hooks.Endpoint, int, bool) {
	votes := map[hooks.Endpoint]int{}
	for _, s := range v.o.Sentinels {
		if s.Reachable() && s.Master != nil {
			votes[hooks.Endpoint{Host: s.Master.IP, Port: s.Master.Port}]++
		}
	}
	var best hooks.Endpoint
	max, tie := 0, false
	for addr, n := range votes {
		switch {
		case n > max:
			best, max, tie = addr, n, false
		case n == max:
			tie = true
		}
	}
	quorum := int(v.t.Quorum)
	if quorum < 1 {
		quorum = 1
	}
	return best, max, max >= quorum && !tie
}

// masters are the reachable pods that answer role:master.
func (v *view) masters() []*RedisNode {
	var out []*RedisNode
	for _, n := range v.reachableRedis() {
		if n.Info.Role == hooks.RoleMaster {
			out = append(out, n)
		}
	}
	return out
}

// best is the first reachable node other than except in election order.
func (v *view) best(except *RedisNode) *RedisNode {
	var nodes []*RedisNode
	for _, n := range v.reachableRedis() {
		if n != except {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	sort.SliceStable(nodes, func(i, j int) bool { return electionLess(nodes[i], nodes[j]) })
	return nodes[0]
}

// firstMasterWait bounds how long rule 4 waits for a lower ordinal at a fresh start.
const firstMasterWait = 20 * time.Second

// lowerOrdinalBooting is, at a fresh start (no node holds data, so no client can have written
// yet), a redis pod of a lower ordinal than best, within the desired count, that the kubelet
// started less than firstMasterWait ago and that does not answer yet; nil otherwise. Rule 4 waits
// for it: the StatefulSet's pods start in parallel and whichever answers first would become the
// first master, while a rollout replaces the highest ordinals first, so a master on the highest
// ordinal costs two switchovers (one away before anything is updated, one back once the pods
// above it are) where one on ordinal 0 costs one. A pod still pending (no start time: maybe
// unschedulable for good) is not waited for, nor one that takes longer to answer.
func (v *view) lowerOrdinalBooting(best *RedisNode) *RedisNode {
	if best.Info.Offset > 0 || best.Info.Keys > 0 || best.Pod.Ordinal <= 0 {
		return nil
	}
	for i := range v.o.Redis {
		n := &v.o.Redis[i]
		p := n.Pod
		if n.Reachable() || p.Ordinal < 0 || p.Ordinal >= best.Pod.Ordinal || p.Terminating ||
			p.Started.IsZero() || v.t.RedisReplicas > 0 && int32(p.Ordinal) >= v.t.RedisReplicas {
			continue
		}
		if age := v.o.Time.Sub(p.Started); age >= 0 && age < firstMasterWait {
			return n
		}
	}
	return nil
}

// electionLess is the election order: the most data first (replication offset, then keys), a
// pod that is not terminating before one that is, then the lowest ordinal. An empty node
// therefore never comes before a node that holds data.
func electionLess(a, b *RedisNode) bool {
	if a.Info.Offset != b.Info.Offset {
		return a.Info.Offset > b.Info.Offset
	}
	if a.Info.Keys != b.Info.Keys {
		return a.Info.Keys > b.Info.Keys
	}
	if a.Pod.Terminating != b.Pod.Terminating {
		return !a.Pod.Terminating
	}
	if a.Pod.Ordinal != b.Pod.Ordinal {
		return a.Pod.Ordinal < b.Pod.Ordinal
	}
	return a.Pod.Name < b.Pod.Name
}

// holdsMore tells whether a holds more data than b.
func holdsMore(a, b *RedisNode) bool {
	if a == nil || b == nil {
		return false
	}
	return a.Info.Offset > b.Info.Offset || a.Info.Offset == b.Info.Offset && a.Info.Keys > b.Info.Keys
}

// replicas points every other reachable node at the master (rules 5, 6 and boot-as-replica).
func (v *view) replicas(e election) []Action {
	m := e.master
	target := v.endpoint(m)
	var acts []Action
	for _, n := range v.reachableRedis() {
		if n == m {
			continue
		}
		var why string
		from := hooks.Endpoint{Host: n.Info.MasterHost, Port: n.Info.MasterPort}
		switch {
		case n.Info.Role == hooks.RoleMaster:
			why = fmt.Sprintf("split brain: %s is also a master (offset %d, %d keys, %d replicas); keeping %s (offset %d): %s",
				n.Pod.Name, n.Info.Offset, n.Info.Keys, n.Info.ConnectedReplicas, m.Pod.Name, m.Info.Offset, e.why)
		case from == target:
			continue
		case from == v.t.Placeholder:
			why = fmt.Sprintf("booted as a replica of the placeholder %s", from.Address())
		case v.pod(from.Host, from.Port) != nil:
			why = fmt.Sprintf("replicates %s, which is not the master", v.pod(from.Host, from.Port).Pod.Name)
		default:
			why = fmt.Sprintf("replicates %s, which is not a pod of this RedisFailover", from.Address())
		}
		acts = append(acts, ReplicaOf{Pod: n.Pod.Name, MasterPod: m.Pod.Name, Master: target, Why: why})
	}
	return acts
}

// sentinels points every reachable sentinel at the master with its settings (rules 7 and 9) and
// resets at most one sentinel that knows stale peers (rule 8).
func (v *view) sentinels(e election) []Action {
	target := v.endpoint(e.master)
	epoch := v.agreedEpoch(target)
	var acts []Action
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !s.Reachable() {
			continue
		}
		if e.agreed && v.lagging(s, target, epoch) {
			continue
		}
		acts = append(acts, v.monitor(s, target, e.master.Pod.Name)...)
	}
	if len(acts) == 0 && !e.promote {
		if r := v.reset(e.master); r != nil {
			acts = append(acts, *r)
		}
	}
	return acts
}

// lagging tells whether s names an older master of ours with an older configuration epoch than
// the agreeing sentinels while it knows the new master as a replica: the hello messages it reads
// there bring it the newer configuration within seconds (Sentinel publishes them every 2 s on
// every instance), and a REMOVE would make it forget the replicas it knows.
func (v *view) lagging(s *SentinelNode, target hooks.Endpoint, epoch int64) bool {
	if s.Master == nil || s.Master.ConfigEpoch >= epoch || v.pod(s.Master.IP, s.Master.Port) == nil {
		return false
	}
	for _, r := range s.Replicas {
		if r.IP == target.Host && r.Port == target.Port {
			return true
		}
	}
	return false
}

// agreedEpoch is the highest configuration epoch among the sentinels that monitor target.
func (v *view) agreedEpoch(target hooks.Endpoint) int64 {
	var max int64
	for _, s := range v.o.Sentinels {
		if s.Reachable() && s.Master != nil && s.Master.IP == target.Host && s.Master.Port == target.Port && s.Master.ConfigEpoch > max {
			max = s.Master.ConfigEpoch
		}
	}
	return max
}

// monitor is rule 7 and the sentinel half of rule 9 for one sentinel.
func (v *view) monitor(s *SentinelNode, target hooks.Endpoint, masterPod string) []Action {
	var acts []Action
	var why string
	switch {
	case s.Master == nil:
		why = "monitors nothing"
	case s.Master.IP != target.Host || s.Master.Port != target.Port:
		why = fmt.Sprintf("monitors %s, not the master", hooks.Endpoint{Host: s.Master.IP, Port: s.Master.Port}.Address())
		if masterPod != "" {
			why += " " + masterPod
		}
		acts = append(acts, SentinelRemove{Sentinel: s.Pod.Name, Why: why})
	default:
		return v.sentinelSettings(s)
	}
	acts = append(acts, SentinelMonitor{Sentinel: s.Pod.Name, MasterPod: masterPod, Master: target, Quorum: v.t.Quorum, Why: why})
	set := "settings of a new monitor"
	if v.t.Password.IsSet() {
		acts = append(acts, SentinelSet{Sentinel: s.Pod.Name, Key: "auth-pass", Password: true, Why: set})
	}
	for _, c := range v.t.SentinelConfig {
		acts = append(acts, SentinelSet{Sentinel: s.Pod.Name, Key: c.Key, Value: unquote(c.Value), Why: set})
	}
	return acts
}

// sentinelSettings writes the settings that Sentinel reports and that differ. auth-pass and
// settings it does not report are written with the monitor only.
func (v *view) sentinelSettings(s *SentinelNode) []Action {
	var acts []Action
	want := append([]hooks.ConfigEntry{{Key: "quorum", Value: strconv.Itoa(int(v.t.Quorum))}}, v.t.SentinelConfig...)
	for _, c := range want {
		got, ok := s.Master.Fields[c.Key]
		if !ok || sameConfig(got, c.Value) {
			continue
		}
		acts = append(acts, SentinelSet{Sentinel: s.Pod.Name, Key: c.Key, Value: unquote(c.Value),
			Why: fmt.Sprintf("is %q, want %q", got, unquote(c.Value))})
	}
	return acts
}

// CleanupDue tells whether a reachable sentinel knows stale entries (staleEntries) that rule 8
// has yet to reset. Rule 8 resets one sentinel at a time, once the last one reset has
// rediscovered the replicas and its peers (a few seconds), so the healer should come back soon
// rather than after its healthy interval: a scale-down leaves every sentinel knowing the removed
// replicas, and a failover led by such a sentinel announces the new master late.
func CleanupDue(t hooks.Topology, o Snapshot) bool {
	if !t.SentinelsEnabled || t.Bootstrap != nil {
		return false
	}
	v := newView(t, o)
	if v.failoverInProgress() {
		return false
	}
	e := v.elect()
	if e.master == nil {
		return false
	}
	for i := range v.o.Sentinels {
		if s := &v.o.Sentinels[i]; s.Reachable() && v.staleEntries(s, e.master) != "" {
			return true
		}
	}
	return false
}

// reset is rule 8: one sentinel at a time, only once every sentinel agrees on the master and
// has rediscovered its replicas and the other sentinels.
func (v *view) reset(m *RedisNode) *SentinelReset {
	var stale *SentinelNode
	var why string
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !s.Reachable() {
			continue
		}
		if v.underInformed(s, m) {
			return nil
		}
		if w := v.staleEntries(s, m); w != "" && stale == nil {
			stale, why = s, w
		}
	}
	if stale == nil {
		return nil
	}
	return &SentinelReset{Sentinel: stale.Pod.Name, Why: why}
}

// underInformed tells whether s has not yet discovered every replica linked to the master or
// every other reachable sentinel, as after a reset.
func (v *view) underInformed(s *SentinelNode, m *RedisNode) bool {
	known := map[string]bool{}
	for _, r := range s.Replicas {
		known[r.IP] = true
	}
	for _, r := range m.Info.Replicas {
		if r.State == "online" && !known[r.IP] {
			return true
		}
	}
	peers := map[string]bool{}
	for _, p := range s.Sentinels {
		peers[p.IP] = true
	}
	for _, o := range v.o.Sentinels {
		if o.Reachable() && o.Pod.IP != s.Pod.IP && !peers[o.Pod.IP] {
			return true
		}
	}
	return false
}

// staleEntries describes the replicas and sentinels s knows that are not pods of this
// RedisFailover any more (old pod IPs); empty when there are none. An entry that Sentinel would
// rediscover at once is not stale: a replica still connected to the master, a sentinel that
// still answers. Resetting for those would loop.
func (v *view) staleEntries(s *SentinelNode, m *RedisNode) string {
	linked := map[hooks.Endpoint]bool{}
	for _, r := range m.Info.Replicas {
		linked[hooks.Endpoint{Host: r.IP, Port: r.Port}] = true
	}
	var stale []string
	for _, r := range s.Replicas {
		addr := hooks.Endpoint{Host: r.IP, Port: r.Port}
		if v.pod(r.IP, r.Port) == nil && !linked[addr] {
			stale = append(stale, "replica "+addr.Address())
		}
	}
	for _, p := range s.Sentinels {
		ours := v.isSen[p.IP] && p.Port == v.t.SentinelPort
		down := p.HasFlag("s_down") || p.HasFlag("disconnected") || p.Port == 0
		if !ours && down {
			stale = append(stale, "sentinel "+hooks.Endpoint{Host: p.IP, Port: p.Port}.Address())
		}
	}
	if len(stale) == 0 {
		return ""
	}
	return fmt.Sprintf("knows %d replicas and %d sentinels, stale: %s", len(s.Replicas), len(s.Sentinels),
		strings.Join(stale, ", "))
}

// redisConfig is the redis half of rule 9: CONFIG SET only what differs, one CONFIG SET per
// option with the value Redis holds after reading every customConfig line of it (options.go),
// and never an option CONFIG SET cannot change.
func (v *view) redisConfig() []Action {
	want := mergedConfig(append(append([]hooks.ConfigEntry(nil), v.t.RedisConfig...), v.t.ModeConfig...))
	var acts []Action
	for _, n := range v.reachableRedis() {
		if n.Config == nil {
			continue // unknown: never write blind
		}
		for _, c := range want {
			if isPriorityKey(c.key) {
				continue // restorePriorities and steer (rule 13) own it
			}
			got, ok := n.Config[c.key]
			if ok && holds(c.key, got, c.value) {
				continue
			}
			why := fmt.Sprintf("is %q, want %q", got, c.value)
			if !ok {
				why = "not reported by CONFIG GET"
			}
			acts = append(acts, ConfigSet{Pod: n.Pod.Name, Key: c.key, Value: c.value, Why: why})
		}
	}
	return acts
}

// bootstrap is rule 10: every redis replicates the external node and can never be elected;
// sentinels, when allowed, monitor that node.
func (v *view) bootstrap() []Action {
	b := *v.t.Bootstrap
	var acts []Action
	for _, n := range v.reachableRedis() {
		if n.Info.Role != hooks.RoleReplica || n.Info.MasterHost != b.Host || n.Info.MasterPort != b.Port {
			acts = append(acts, ReplicaOf{Pod: n.Pod.Name, Master: b,
				Why: "bootstrap mode: every redis replicates the external node"})
		}
		if got, ok := n.Config[ReplicaPriorityKey]; ok && got != "0" {
			acts = append(acts, ConfigSet{Pod: n.Pod.Name, Key: ReplicaPriorityKey, Value: "0",
				Why: fmt.Sprintf("bootstrap mode: a replica of the external node is never elected (is %q)", got)})
		}
	}
	if v.t.SentinelsEnabled {
		for i := range v.o.Sentinels {
			if s := &v.o.Sentinels[i]; s.Reachable() {
				acts = append(acts, v.monitor(s, b, "")...)
			}
		}
	}
	return append(acts, v.redisConfig()...)
}
