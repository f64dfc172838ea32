package decision

import (
	"cmp"
	"fmt"
	"sort"
	"strings"

	"github.com/redhook/redhook/hooks"
)

// Rule 16: sentinel-less mode (spec.sentinel.enabled: false). No sentinel decides; the healer
// fails over by itself, from a single point of view, so it never trusts that point of view alone:
//
//   - Witnesses. A master that the healer cannot reach is declared failed only when every other
//     redis pod testifies that it does not follow it any more: it answers and reports its link to
//     the master down for at least Fencing.DownSince seconds (master_link_down_since_seconds,
//     which Redis keeps: nothing here lives in the healer's memory, a restarted healer decides
//     the same), or follows something else, or is not running at all (its host refused the
//     connection, or it has no IP). A pod that does not answer may still follow the master and
//     keep it writable: no failover then. One replica with its link up is enough to show that
//     the master lives and only the healer lost it.
//   - Fast path. A master whose host refuses the connection is not running (a partition drops
//     packets, it refuses none): once every other pod testifies as above, with its link down
//     for any time, the failover is immediate.
//   - Fencing. The master runs with min-replicas-to-write 1 and min-replicas-max-lag
//     Fencing.MaxLag (hooks.FencingFor): cut off from its replicas, it refuses writes before
//     DownSince has passed on their side, so no two masters accept writes at once.
//   - A reachable master that every other pod testifies to have lost for DownSince is cut off
//     from its replicas and fenced: it is failed over too, to the follower with the most data,
//     and made a replica of it in the same pass.
//   - Promotion: the node with the most data (offset, then keys; ties: lowest ordinal, rule 4's
//     order), never an empty node while another holds data; the others are re-pointed (rule 6)
//     and the master Service follows the report.
//   - A former master that comes back as master is demoted by rule 5, which here keeps first
//     the master that continued the other's history (its master_replid2 is the other's
//     master_replid): the promoted one.
//   - A master that restarted, empty or not, answers as a replica of the boot placeholder: it
//     accepts no writes, so rule 4 promotes at once the node with the most data.

// sentinellessElection applies rule 16. decided is false when rules 3 to 5 decide as usual.
func (v *view) sentinellessElection() (e election, decided bool) {
	switch masters := v.masters(); len(masters) {
	case 0:
		return v.lostMaster()
	case 1:
		return v.cutOff(masters[0])
	}
	return election{}, false
}

// lostMaster: no pod answers as master. The addresses that reachable replicas follow and that
// are not a reachable pod of ours are masters the healer lost; each must be proven failed before
// anything is promoted.
func (v *view) lostMaster() (election, bool) {
	lost := v.lostAddresses()
	if len(lost) == 0 {
		return election{}, false // nobody follows a lost master: rule 4 (a first start)
	}
	var proofs []string
	for _, addr := range lost {
		proof, hold, timed := v.failed(addr, v.pod(addr.Host, addr.Port))
		if hold != "" {
			return election{hold: hold, held: v.pod(addr.Host, addr.Port), detecting: timed}, true
		}
		proofs = append(proofs, proof)
	}
	best := v.best(nil)
	if best == nil {
		return election{}, false
	}
	return election{master: best, promote: true, why: fmt.Sprintf(
		"sentinel-less failover: %s; promoting %s, which holds the most data (offset %d, %d keys)",
		strings.Join(proofs, "; "), best.Pod.Name, best.Info.Offset, best.Info.Keys)}, true
}

// lostAddresses are the masters that reachable replicas follow and that the healer cannot read
// as one of its pods, in address order.
func (v *view) lostAddresses() []hooks.Endpoint {
	seen := map[hooks.Endpoint]bool{}
	var out []hooks.Endpoint
	for _, n := range v.reachableRedis() {
		addr := hooks.Endpoint{Host: n.Info.MasterHost, Port: n.Info.MasterPort}
		if n.Info.Role != hooks.RoleReplica || addr == v.t.Placeholder || seen[addr] {
			continue
		}
		if p := v.pod(addr.Host, addr.Port); p != nil && p.Reachable() {
			continue // a pod of ours that answers as a replica: no master to wait for
		}
		seen[addr] = true
		out = append(out, addr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address() < out[j].Address() })
	return out
}

// failed tells whether the master at addr (pod m, nil when it is none of ours) is proven
// failed: proof says why; otherwise hold says what the healer waits for, and timed whether it is
// only the detection time (every witness has lost its link, not for long enough yet).
func (v *view) failed(addr hooks.Endpoint, m *RedisNode) (proof, hold string, timed bool) {
	name := addr.Address()
	if m != nil {
		name = m.Pod.Name
	}
	refused := m != nil && m.Refused
	need := hooks.FencingFor(v.t.DetectionTimeout).DownSince
	if refused {
		need = 0
	}
	witnesses, early := 0, ""
	for i := range v.o.Redis {
		n := &v.o.Redis[i]
		if n == m {
			continue
		}
		lost, why, tooEarly := v.testimony(n, addr, name, int64(need))
		switch {
		case why != "" && !tooEarly:
			return "", why, false
		case why != "":
			early = cmp.Or(early, why) // unless another pod holds the failover for a stronger reason
		case lost >= 0:
			witnesses++
		}
	}
	if early != "" {
		return "", early, true
	}
	if witnesses == 0 {
		return "", fmt.Sprintf("no replica of %s has lost its link to it for %d s yet", name, need), false
	}
	how := fmt.Sprintf("unreachable, and every other pod has lost its link to it for at least %d s (fenced by min-replicas-max-lag %d)",
		need, hooks.FencingFor(v.t.DetectionTimeout).MaxLag)
	if refused {
		how = "refusing connections (not running), and every other pod has lost its link to it"
	}
	return fmt.Sprintf("master %s is %s", name, how), "", false
}

// testimony is what pod n says of the master at addr: lost is how long, in seconds, n has not
// followed it (-1: n never followed it, or is not running); why, when set, is why n does not
// let the healer declare it failed, tooEarly when that is only the detection time.
func (v *view) testimony(n *RedisNode, addr hooks.Endpoint, name string, need int64) (lost int64, why string, tooEarly bool) {
	switch {
	case n.Pod.IP == "" || n.Refused:
		return -1, "", false // not running: it acknowledges nothing
	case !n.Reachable():
		return -1, fmt.Sprintf("%s does not answer the healer: it may still follow %s and keep it writable; no failover", n.Pod.Name, name), false
	case n.Info.Role != hooks.RoleReplica || n.Info.MasterHost != addr.Host || n.Info.MasterPort != addr.Port:
		return -1, "", false // follows something else
	case n.Info.LinkUp || n.Info.Syncing:
		return -1, fmt.Sprintf("%s still has its link to %s up: the master lives, only the healer lost it; no failover", n.Pod.Name, name), false
	}
	down := n.Info.LinkDownSince
	if down < 0 {
		down = n.Info.Uptime // never linked since it started: it has acknowledged nothing since
	}
	if down < need {
		return -1, fmt.Sprintf("%s has lost its link to %s for %d s; failing over at %d s, once the master is fenced",
			n.Pod.Name, name, down, need), true
	}
	return down, "", false
}

// cutOff: the only master answers the healer, but every other pod has lost its link to it for
// the detection time. Fenced, it refuses every write: fail over to the follower with the most
// data (rule 6 then makes the old master a replica of it in the same pass).
func (v *view) cutOff(m *RedisNode) (election, bool) {
	var best *RedisNode
	for _, n := range v.reachableRedis() {
		if n != m && n.Info.Role == hooks.RoleReplica && n.Info.MasterHost == m.Pod.IP && n.Info.MasterPort == v.t.RedisPort &&
			(best == nil || electionLess(n, best)) {
			best = n
		}
	}
	if best == nil || best.Info.Offset == 0 && best.Info.Keys == 0 {
		return election{}, false // no follower holding data: keep the master (rule 3)
	}
	proof, hold, _ := v.failed(v.endpoint(m), m)
	if hold != "" {
		return election{}, false
	}
	return election{master: best, promote: true, why: fmt.Sprintf(
		"sentinel-less failover: %s (cut off from its replicas, it refuses writes); promoting %s, its follower with the most data (offset %d)",
		strings.Replace(proof, "unreachable, and every", "reachable, but every", 1), best.Pod.Name, best.Info.Offset)}, true
}

// Detecting tells whether acts wait for the detection time of a lost master (rule 16): the
// failover is due within seconds, so the next pass must not wait for an error backoff.
func Detecting(acts []Action) bool {
	for _, a := range acts {
		if w, ok := a.(Wait); ok && w.Detecting {
			return true
		}
	}
	return false
}

// successor tells whether master a continued master b's history: a was promoted while
// replicating b (rule 5 in sentinel-less mode keeps a).
func successor(a, b *RedisNode) bool {
	return a.Info.ReplID2 != "" && a.Info.ReplID2 == b.Info.ReplID
}
