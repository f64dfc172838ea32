package decision

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Rule 13 (with rule 12, timing.go) keeps writes confirmed by WAIT 1 through a failover that
// Sentinel carries out.
//
// With two replicas, WAIT 1 returns once one of them holds a write: the last writes before a
// master dies may be on one replica only. Sentinel promotes the replica first in its order
// (lowest replica-priority, then highest replication offset, then lowest run id; priority 0,
// s_down and disconnected replicas excluded), and it knows priorities and offsets only from its
// last INFO of each replica. While the master is healthy that INFO is up to 10 s old
// (SENTINEL_INFO_PERIOD); it drops to 1 s only once the master is ODOWN or failing over, and a
// forced SENTINEL FAILOVER (rule 11) never waits for it. Sentinel may so promote the replica
// with less data, and the other is then resynchronised from it: confirmed writes are gone
// (measured here: 8 in a 2-minute chaos test, 47 of 143 in bench-failover). See
// sentinelSelectSlave and compareSlavesForPromotion in Redis' sentinel.c.

// defaultPriority is Redis' replica-priority when customConfig does not set it.
const defaultPriority = "100"

// steeredPriority is the replica-priority of the replica that must be promoted (rule 13): the
// best one that is not 0 (0 means never promote).
const steeredPriority = "1"

// normalPriority is the replica-priority the topology wants outside of a failover: the last
// customConfig value, else Redis' default.
func (v *view) normalPriority() string {
	p := defaultPriority
	for _, c := range v.t.RedisConfig {
		if isPriorityKey(c.Key) {
			p = unquote(c.Value)
		}
	}
	return p
}

// isPriorityKey tells whether a customConfig key is replica-priority (or its old name).
func isPriorityKey(key string) bool {
	return strings.EqualFold(key, ReplicaPriorityKey) || strings.EqualFold(key, "slave-priority")
}

// worsePriority is the priority of the replicas that must not be promoted while steering: the
// normal one, unless that is as good as the steered one.
func worsePriority(normal string) string {
	if n, err := strconv.Atoi(normal); err == nil && n <= 1 {
		return "2"
	}
	return normal
}

// pinned tells whether n's priority is left alone: unknown (never write blind), or 0 (never
// promote) while the topology does not set 0 itself, as someone pinned it.
func pinned(n *RedisNode, normal string) bool {
	got, ok := n.Config[ReplicaPriorityKey]
	return !ok || got == "0" && normal != "0"
}

// steer is rule 13: when the master is gone, the reachable replica with the most data (its
// offset is frozen once the master is gone) gets the best priority and the others a worse one,
// so that Sentinel promotes it whatever its stale view of the offsets. except (the sentinels'
// master that restarted) is left alone. Nothing is steered when the topology sets priority 0.
func (v *view) steer(except *RedisNode) []Action {
	normal := v.normalPriority()
	if normal == "0" {
		return nil
	}
	var nodes []*RedisNode
	for _, n := range v.reachableRedis() {
		if n != except && !pinned(n, normal) {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	sort.SliceStable(nodes, func(i, j int) bool { return electionLess(nodes[i], nodes[j]) })
	best := nodes[0]
	var acts []Action
	for _, n := range nodes {
		want, why := worsePriority(normal), fmt.Sprintf("the master is gone: %s holds more data (offset %d) than %s (offset %d)",
			best.Pod.Name, best.Info.Offset, n.Pod.Name, n.Info.Offset)
		if n == best {
			want, why = steeredPriority, fmt.Sprintf("the master is gone: %s holds the most data (offset %d), Sentinel must promote it",
				n.Pod.Name, n.Info.Offset)
		}
		if got := n.Config[ReplicaPriorityKey]; got != want {
			acts = append(acts, ReplicaPriority{Pod: n.Pod.Name, Value: want, Why: why})
		}
	}
	return acts
}

// restorePriorities gives every reachable node the normal priority again once nothing is
// steered (the redis half of rule 9 for replica-priority).
func (v *view) restorePriorities() []Action {
	normal := v.normalPriority()
	var acts []Action
	for _, n := range v.reachableRedis() {
		if pinned(n, normal) || sameConfig(n.Config[ReplicaPriorityKey], normal) {
			continue
		}
		acts = append(acts, ReplicaPriority{Pod: n.Pod.Name, Value: normal,
			Why: fmt.Sprintf("is %q, want %q: no failover to steer", n.Config[ReplicaPriorityKey], normal)})
	}
	return acts
}

// sentinelPick is the replica that s would promote now, by Sentinel's own order on what it last
// read: priority 0, s_down, o_down and disconnected replicas excluded, then the lowest priority,
// the highest offset, the lowest run id. Only reachable pods of ours count; nil when none.
func (v *view) sentinelPick(s *SentinelNode) (*RedisNode, SentinelPeer) {
	type cand struct {
		n *RedisNode
		p SentinelPeer
	}
	var cands []cand
	for _, r := range s.Replicas {
		if r.Priority == 0 || r.HasFlag("s_down") || r.HasFlag("o_down") || r.HasFlag("disconnected") {
			continue
		}
		if n := v.pod(r.IP, r.Port); n != nil && n.Reachable() {
			cands = append(cands, cand{n, r})
		}
	}
	if len(cands) == 0 {
		return nil, SentinelPeer{}
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i].p, cands[j].p
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if a.Offset != b.Offset {
			return a.Offset > b.Offset
		}
		if (a.RunID == "") != (b.RunID == "") {
			return b.RunID == "" // Sentinel ranks a replica without run id last
		}
		return strings.ToLower(a.RunID) < strings.ToLower(b.RunID)
	})
	return cands[0].n, cands[0].p
}
