package decision

import (
	"fmt"
	"sort"
	"time"

	"github.com/redhook/redhook/hooks"
)

// Rule 14: planned switchovers. The hook holds the redis StatefulSet's partition at the
// master's ordinal + 1 while the master's pod is not on the update revision, and its replica
// count at the master's ordinal + 1 while a scale-down would remove the master's pod (hooks'
// rollout.go). The healer moves the master out of the way:
//
//   - rollout: once every pod above the master is updated and Ready, to one of them; when no pod
//     is above the master (it is on the highest ordinal), to another in-sync replica first;
//   - scale-down: to an in-sync replica that stays (ordinal below the desired count).
//
// First the target gets the best replica-priority and the other replicas a worse one (as in
// rule 13); once a sentinel that agrees on the master would pick the target by what it last read,
// the Switchover action pauses writes on the master, waits until the target holds every write,
// asks that sentinel for SENTINEL FAILOVER, makes the old master a replica of the target as soon
// as the target is master, and resumes the paused clients, which get READONLY and retry on the
// new master: nothing acknowledged is lost.
//
// A master whose pod is terminating (deleted, evicted, drained) hands over in its preStop hook,
// which does the same through redis-cli, one process per command: 0.5-0.8 s from the pause to
// the promotion in a pod. The healer does it faster with its open connections, and it learns of
// the deletion as soon as the kubelet does: it switches over at once, to the replica a sentinel
// would pick by what it last read (no steering, which takes a sentinel's read, up to 10 s). Both
// pause the master with a claim (healer/switchover.go, claimHandOver): a transaction that waits
// while the writes are paused already, so only the first hands over; the hook then waits for
// the healer's hand-over, or hands over itself when the healer gave up. Without the claim each
// would send SENTINEL FAILOVER, possibly to two sentinels (only a failover's leader answers
// INPROG), and two replicas would be promoted. A user's own preStop hook
// (spec.redis.shutdownConfigMap) makes no claim: its terminating master is left to it.

// Switchover is rule 14's planned, lossless switchover from Master to Target, carried out
// through Sentinel.
type Switchover struct {
	Master, Target, Sentinel string
	// Terminating: the master's pod is being deleted, and its preStop hook may be handing over:
	// the pause is claimed (healer/switchover.go, claimHandOver).
	Terminating bool
	Why         string
}

func (a Switchover) String() string {
	return fmt.Sprintf("switchover %s to %s (%s)", a.Master, a.Target, a.Sentinel)
}
func (a Switchover) Reason() string { return a.Why }
func (a Switchover) Kind() string   { return "switchover" }

// plannedSwitchover returns rule 14's actions for an agreed, healthy master: the priorities that
// steer Sentinel to the target, else the Switchover once a sentinel would pick the target, else a
// Wait. ok is false when no switchover is due.
func (v *view) plannedSwitchover(e election) (acts []Action, ok bool) {
	m := e.master
	if m == nil || !e.agreed || e.promote || !v.t.SentinelsEnabled || v.t.Bootstrap != nil {
		return nil, false
	}
	for i := range v.o.Sentinels {
		if s := &v.o.Sentinels[i]; v.monitors(s, v.endpoint(m)) && (s.Master.HasFlag("s_down") || s.Master.HasFlag("o_down")) {
			return nil, false // Sentinel may be failing over by itself: no second failover beside it
		}
	}
	if m.Pod.Terminating {
		if v.t.CustomShutdown {
			return nil, false // the user's preStop hook hands over, without the claim
		}
		return v.terminatingSwitchover(m)
	}
	target, why := v.switchoverTarget(m)
	if target == nil {
		return nil, false
	}
	normal := v.normalPriority()
	if normal == "0" || pinned(target, normal) {
		return nil, false // no replica may be promoted, or the target's priority is someone else's
	}
	for _, n := range v.reachableRedis() {
		if n == m || pinned(n, normal) {
			continue
		}
		want := worsePriority(normal)
		if n == target {
			want = steeredPriority
		}
		if !sameConfig(n.Config[ReplicaPriorityKey], want) {
			acts = append(acts, ReplicaPriority{Pod: n.Pod.Name, Value: want,
				Why: why + ": steering Sentinel's choice to " + target.Pod.Name})
		}
	}
	if len(acts) > 0 {
		return acts, true
	}
	for _, s := range v.cleanSentinelsFirst(m) {
		if s.Info.Tilt || !v.monitors(s, v.endpoint(m)) {
			continue
		}
		if pick, _ := v.sentinelPick(s); pick == target {
			return []Action{Switchover{Master: m.Pod.Name, Target: target.Pod.Name, Sentinel: s.Pod.Name, Why: why}}, true
		}
	}
	return []Action{Wait{Why: why + ": no sentinel would pick " + target.Pod.Name + " yet (it reads priorities every second)"}}, true
}

// terminatingSwitchover is the switchover away from a master whose pod is terminating: to the
// replica a sentinel that monitors it would pick, when that replica is a candidate. None when no
// sentinel would pick one: the preStop hook hands over alone.
func (v *view) terminatingSwitchover(m *RedisNode) ([]Action, bool) {
	desired := v.desiredRedis()
	for _, s := range v.cleanSentinelsFirst(m) {
		if s.Info.Tilt || !v.monitors(s, v.endpoint(m)) {
			continue
		}
		if pick, _ := v.sentinelPick(s); pick != nil && v.switchoverCandidate(pick, m, desired) {
			return []Action{Switchover{Master: m.Pod.Name, Target: pick.Pod.Name, Sentinel: s.Pod.Name, Terminating: true,
				Why: "the master's pod " + m.Pod.Name + " is terminating: handing over before its process stops"}}, true
		}
	}
	return nil, false
}

// cleanSentinelsFirst is the sentinels, those that know no stale replica or sentinel (rule 8's
// staleEntries) first, each group in its order. The sentinel asked for SENTINEL FAILOVER leads
// the failover, and a leader announces the new master (+switch-master, which many clients wait
// for) only once every replica it knows follows the new master or is down; it reconfigures
// parallel-syncs replicas at a time, and a replica removed by a scale-down that it has not
// forgotten yet holds a slot for 10 s: its announcement then came only at failover-timeout.
func (v *view) cleanSentinelsFirst(m *RedisNode) []*SentinelNode {
	var clean, stale []*SentinelNode
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if v.staleEntries(s, m) == "" {
			clean = append(clean, s)
		} else {
			stale = append(stale, s)
		}
	}
	return append(clean, stale...)
}

// desiredRedis is the number of redis pods the spec asks for (the pods there are when not given:
// no scale-down).
func (v *view) desiredRedis() int {
	if v.t.RedisReplicas == 0 {
		return len(v.t.Redis)
	}
	return int(v.t.RedisReplicas)
}

// switchoverCandidate tells whether n may take over from the master m: a pod that stays (below
// desired), not terminating, Ready, answering as m's replica with its link up and not syncing.
func (v *view) switchoverCandidate(n, m *RedisNode, desired int) bool {
	return n != m && n.Pod.Ordinal >= 0 && n.Pod.Ordinal < desired && !n.Pod.Terminating && n.Pod.Ready && n.Reachable() &&
		n.Info.Role == hooks.RoleReplica && n.Info.LinkUp && !n.Info.Syncing && v.pod(n.Info.MasterHost, n.Info.MasterPort) == m
}

// switchoverTarget is the replica rule 14 switches over to, and why; nil when no switchover is
// due or none is possible yet.
func (v *view) switchoverTarget(m *RedisNode) (*RedisNode, string) {
	mp := m.Pod
	desired := v.desiredRedis()
	leaving := mp.Ordinal >= desired
	if v.t.PlainRollout || mp.Ordinal < 0 || mp.Terminating || !leaving && !mp.Outdated {
		return nil, ""
	}
	var cands []*RedisNode
	aboveUpdated := 0
	for i := range v.o.Redis {
		n := &v.o.Redis[i]
		if n == m || n.Pod.Ordinal < 0 {
			continue
		}
		if n.Pod.Ordinal > mp.Ordinal && n.Pod.Ordinal < desired && !n.Pod.Outdated && n.Pod.Ready && !n.Pod.Terminating {
			aboveUpdated++
		}
		if v.switchoverCandidate(n, m, desired) {
			cands = append(cands, n)
		}
	}
	var why string
	switch wantAbove := desired - mp.Ordinal - 1; {
	case leaving:
		why = fmt.Sprintf("scaling down to %d pods removes the master's pod %s", desired, mp.Name)
	case wantAbove > 0 && aboveUpdated < wantAbove:
		return nil, "" // the StatefulSet is still updating the pods above the master
	case wantAbove > 0:
		why = fmt.Sprintf("rollout: every pod above the master %s is updated and Ready", mp.Name)
		updated := cands[:0:0]
		for _, n := range cands {
			if !n.Pod.Outdated && n.Pod.Ordinal > mp.Ordinal {
				updated = append(updated, n)
			}
		}
		cands = updated
	default:
		why = fmt.Sprintf("rollout: the master %s is on the highest ordinal, no pod above it can be updated first", mp.Name)
	}
	if len(cands) == 0 {
		return nil, ""
	}
	// Updated first; then the replica already steered (its offset and another's differ by a
	// few bytes from one read to the next under writes: re-steering would cost a pass and a
	// sentinel's read each time; under the pause every in-sync replica catches up anyway); then
	// the lowest ordinal, which leaves the most pods above the master for the next rollout.
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.Pod.Outdated != b.Pod.Outdated {
			return !a.Pod.Outdated
		}
		if sa, sb := a.Config[ReplicaPriorityKey] == steeredPriority, b.Config[ReplicaPriorityKey] == steeredPriority; sa != sb {
			return sa
		}
		return a.Pod.Ordinal < b.Pod.Ordinal
	})
	return cands[0], why
}

// Failed planned switchovers. A switchover that fails (the target does not catch up within its
// bound, Sentinel does not promote) costs a write pause of up to a few seconds each time; retried
// with the pool's backoff alone, a replica that never catches up (writes faster than replication)
// would pause writes for seconds every 30 s for as long as the rollout waits. After
// SwitchoverRetries failures in a row for one master (same pod, same run), the healer holds its
// switchovers back for SwitchoverHold and says so in the report: the rollout waits, visibly.
const (
	SwitchoverRetries = 3
	SwitchoverHold    = 10 * time.Minute
)

// SwitchoverFailures counts the failed switchovers of one master in a row; the pool keeps it.
type SwitchoverFailures struct {
	// Master and RunID identify the master the switchovers failed to move.
	Master, RunID string
	Count         int
	// Last is when the pass of the last failure started (Snapshot.Time), Err its error.
	Last time.Time
	Err  string
}

// Record updates f with the outcome of a Switchover planned on o (err nil: it succeeded).
func (f SwitchoverFailures) Record(a Switchover, o Snapshot, err error) SwitchoverFailures {
	if err == nil {
		return SwitchoverFailures{}
	}
	runID := runIDOf(o, a.Master)
	if f.Master != a.Master || f.RunID != runID {
		f = SwitchoverFailures{Master: a.Master, RunID: runID}
	}
	f.Count++
	f.Last, f.Err = o.Time, err.Error()
	return f
}

// HoldSwitchover drops a Switchover from acts while f holds it back: SwitchoverRetries failures
// in a row of the same master, the last less than SwitchoverHold before o was read. errs says
// why, for the report.
func HoldSwitchover(acts []Action, o Snapshot, f SwitchoverFailures) (send []Action, errs []string) {
	for _, a := range acts {
		sw, ok := a.(Switchover)
		if ok && f.Count >= SwitchoverRetries && f.Master == sw.Master && f.RunID == runIDOf(o, sw.Master) &&
			o.Time.Sub(f.Last) < SwitchoverHold {
			// A fixed end, not a countdown: the report's errors reach the status, which must not
			// change on every pass.
			errs = append(errs, fmt.Sprintf("%s: %d planned switchovers failed in a row (last: %s); held back until %s, "+
				"or until the master restarts", sw.Master, f.Count, f.Err, f.Last.Add(SwitchoverHold).UTC().Format(time.RFC3339)))
			continue
		}
		send = append(send, a)
	}
	return send, errs
}

// runIDOf is the run id of the redis pod named pod in o; empty when unknown.
func runIDOf(o Snapshot, pod string) string {
	for _, n := range o.Redis {
		if n.Pod.Name == pod {
			return n.Info.RunID
		}
	}
	return ""
}
