package decision

import (
	"fmt"
	"strconv"

	"github.com/redhook/redhook/hooks"
)

// Failovers never run side by side. A SENTINEL FAILOVER (rule 11) skips Sentinel's leader
// election: a sentinel that starts its own failover in the meantime, in the same epoch, wins its
// election (the forced one asks nobody for votes) and promotes a replica too, maybe another one;
// the two promoted replicas are then made replicas of each other and no node is master until
// someone promotes again (down-after 1000 ms, master SIGKILLed and restarted after 1 s: 3 of 14
// runs, ~6 s without a master). A promotion by the healer itself beside Sentinel's failover
// makes a second master whose writes, confirmed by a replica that follows it, are lost when
// Sentinel's wins (TestIntegrationKillRestartRace: 104 confirmed writes, the master restarted
// from its dump with more data than the replicas).
//
// Sentinel starts a failover only once a quorum holds the master objectively down, and each
// sentinel only after it holds it subjectively down itself (SDOWN): no valid answer to its PINGs
// for down-after-milliseconds, or the master reporting role:slave for down-after + 2 INFO
// periods. So the healer changes the master only when no sentinel that monitors it holds it down
// or may hold it down before the change is over: each one has waited less than half its
// down-after for an answer to a PING (it needs another half without answers), has seen it as a replica for less than
// down-after (2 INFO periods, at least 2 s with rule 12, are left: Sentinel reads a promoted
// replica's INFO every second while it fails over), hears from no peer that it is down (unless
// that peer, read by the healer too, no longer holds it down: Sentinel keeps a peer's answer for
// 5 ask periods, and counts it only once it holds the master down itself), saw no
// vote for a failover leader in an epoch newer than its configuration, and no sentinel names
// another master in a newer configuration (a failover that just ended, still being announced).
// Otherwise Sentinel fails over by itself, steered (rule 13). See sentinelCheckSubjectivelyDown,
// sentinelStartFailoverIfNeeded and sentinelFailoverWaitStart in Redis' sentinel.c.

// sentinelMayFailOver tells why Sentinel may be failing over from addr, or may start to before a
// failover or promotion of the healer is over; "" when no reachable sentinel may. Fields a
// sentinel does not report are not held against it.
func (v *view) sentinelMayFailOver(addr hooks.Endpoint) string {
	if v.electionFailed(addr) {
		return ""
	}
	epoch := v.agreedEpoch(addr)
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		switch {
		case !s.Reachable() || s.Master == nil:
		case !v.monitors(s, addr):
			if s.Master.ConfigEpoch > epoch {
				return fmt.Sprintf("%s names %s in a newer configuration (epoch %d > %d): a failover has just happened",
					s.Pod.Name, hooks.Endpoint{Host: s.Master.IP, Port: s.Master.Port}.Address(), s.Master.ConfigEpoch, epoch)
			}
		default:
			if why := v.holdsDown(s); why != "" {
				return s.Pod.Name + " " + why
			}
		}
	}
	return ""
}

// holdsDown tells why s, which monitors the master, holds it down or may soon; "" when it
// cannot before half its down-after has passed.
func (v *view) holdsDown(s *SentinelNode) string {
	if why := holdsDownItself(s); why != "" {
		return why
	}
	m := s.Master
	for _, p := range s.Sentinels {
		if p.HasFlag("master_down") && !v.recovered(p, m) {
			return fmt.Sprintf("hears from %s that it is down", p.IP)
		}
		if p.VotedLeader != "" && p.VotedLeader != "?" && p.VotedLeaderEpoch > m.ConfigEpoch {
			return fmt.Sprintf("heard %s vote for a failover leader in epoch %d (configuration epoch %d)", p.IP, p.VotedLeaderEpoch, m.ConfigEpoch)
		}
	}
	return ""
}

// holdsDownItself tells why s holds its master down or may soon by what s itself observes: its
// flags, its SDOWN timer, how long the master has reported role:slave. Peers' answers aside.
func holdsDownItself(s *SentinelNode) string {
	m := s.Master
	down, hasDown := fieldInt(m, "down-after-milliseconds")
	switch {
	case m.FailoverInProgress():
		return "is failing over"
	case m.HasFlag("s_down") || m.HasFlag("o_down"):
		return "holds it down"
	case m.HasFlag("disconnected"):
		return "has no link to it"
	}
	// last-ping-sent is Sentinel's SDOWN timer: how long its oldest unanswered PING has waited
	// (0 while every PING is answered).
	if wait, has := fieldInt(m, "last-ping-sent"); has && hasDown && 2*wait >= down {
		return fmt.Sprintf("has waited %d ms for an answer to its PING (down-after %d ms)", wait, down)
	}
	if age, has := fieldInt(m, "role-reported-time"); has && hasDown && m.Fields["role-reported"] == hooks.RoleReplica && age >= down {
		return fmt.Sprintf("has seen it as a replica for %d ms (down-after %d ms): it holds it down at down-after + 2 INFO periods", age, down)
	}
	return ""
}

// recovered tells whether peer, which answered a sentinel that m is down, no longer holds m down
// by what the healer read from peer itself: its answer is stale (a master that restarted before
// the sentinels agreed on it, say) and would count only once that sentinel holds m down too,
// which holdsDownItself watches. A peer the healer could not read still counts.
func (v *view) recovered(peer SentinelPeer, m *SentinelMaster) bool {
	for i := range v.o.Sentinels {
		o := &v.o.Sentinels[i]
		if o.Pod.IP == peer.IP && o.Reachable() && o.Master != nil && o.Master.IP == m.IP && o.Master.Port == m.Port {
			return holdsDownItself(o) == ""
		}
	}
	return false
}

// electionFailed tells whether the sentinels' last election of a failover leader for addr
// failed: no sentinel fails over, and every sentinel of the topology answered, monitors addr and
// is seen by a peer to have voted in an epoch newer than the configuration. When all the
// sentinels hold the master down at the same moment, each may vote for itself and none is
// elected; each then aborts after the election timeout (failover-timeout, at most 10 s) and waits
// 2 × failover-timeout from its vote before it tries again, holding the master down meanwhile
// (measured: 21 s without a master, 1 round of 20). No sentinel can start a failover in that
// wait, so SENTINEL FAILOVER cannot meet one, and rule 11 asks for it.
func (v *view) electionFailed(addr hooks.Endpoint) bool {
	if len(v.o.Sentinels) == 0 || len(v.o.Sentinels) < len(v.t.Sentinels) {
		return false
	}
	voted := map[string]bool{}
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !v.monitors(s, addr) || s.Master.FailoverInProgress() {
			return false
		}
		for _, p := range s.Sentinels {
			if p.VotedLeader != "" && p.VotedLeader != "?" && p.VotedLeaderEpoch > s.Master.ConfigEpoch {
				voted[p.IP] = true
			}
		}
	}
	for _, s := range v.o.Sentinels {
		if !voted[s.Pod.IP] {
			return false
		}
	}
	return true
}

// fieldInt reads an integer field of SENTINEL MASTER; false when absent or not a number.
func fieldInt(m *SentinelMaster, key string) (int64, bool) {
	n, err := strconv.ParseInt(m.Fields[key], 10, 64)
	return n, err == nil
}

// failoverStalled tells whether every failover in progress is past its promotion (Sentinel now
// only reconfigures the replicas: failover-state reconf_slaves or update_config) while the
// replica it promoted (flag "promoted") answers as a replica again and no pod is master: two
// failovers promoted two replicas which then replicate each other. Sentinel would leave the
// RedisFailover without a master until its failover times out and the sentinels that voted may
// fail over again (2 × failover-timeout), so the healer does not wait (rule 1's exception): rule
// 4 promotes the node with the most data. Every redis pod must answer (a pod that does not may be
// the master, or hold more data), and every sentinel (one that does not may be promoting), and
// no sentinel that is not failing over may hold its master down or be about to (holdsDown): it
// could start a failover beside the promotion. Nothing takes writes meanwhile, so no confirmed
// write is lost.
func (v *view) failoverStalled() bool {
	if len(v.masters()) > 0 || len(v.reachableRedis()) < len(v.t.Redis) || len(v.o.Sentinels) < len(v.t.Sentinels) {
		return false
	}
	stalled := false
	for _, s := range v.o.Sentinels {
		switch {
		case !s.Reachable():
			return false // it may be promoting (wait_promotion)
		case s.Master == nil:
			continue
		case !s.Master.FailoverInProgress():
			if v.holdsDown(&s) != "" {
				return false // it may start a failover of its own (of the replica it promoted, say)
			}
			continue
		}
		if st := s.Master.FailoverState; st != "reconf_slaves" && st != "update_config" || !v.promotedDemoted(&s) {
			return false
		}
		stalled = true
	}
	return stalled
}

// promotedDemoted tells whether the replica s promoted answers as a replica.
func (v *view) promotedDemoted(s *SentinelNode) bool {
	n := v.promotedBy(s)
	return n != nil && n.Reachable() && n.Info.Role == hooks.RoleReplica
}

// promotedBy is the pod of ours that s's failover promotes or promoted (flag "promoted"); nil
// when none.
func (v *view) promotedBy(s *SentinelNode) *RedisNode {
	for _, r := range s.Replicas {
		if n := v.pod(r.IP, r.Port); r.HasFlag("promoted") && n != nil {
			return n
		}
	}
	return nil
}

// promoteStalled is rule 4 during a stalled failover: promote the node with the most data and
// point the others at it. The sentinels are left alone until their failovers end; rules 2, 7
// and 8 then bring them to the master.
func (v *view) promoteStalled() []Action {
	_, acts := v.promoteBest("Sentinel's failover promoted a replica that has been demoted since (its failover is past the promotion)")
	return acts
}

// promoteBest is rule 4 while no pod is master and Sentinel cannot end that (why): the node
// with the most data is promoted and the others follow it. e is nil when no node answers.
func (v *view) promoteBest(why string) (e *election, acts []Action) {
	best := v.best(nil)
	if best == nil {
		return nil, nil
	}
	e = &election{master: best, promote: true, why: fmt.Sprintf("no master: %s; %s holds the most data (offset %d, %d keys)",
		why, best.Pod.Name, best.Info.Offset, best.Info.Keys)}
	return e, append([]Action{Promote{Pod: best.Pod.Name, Why: e.why}}, v.replicas(*e)...)
}

// electionDoomed tells whether the sentinels' election of a failover leader cannot succeed any
// more while they still wait for it: every sentinel of the topology answers and monitors the same
// address, none is past failover-state wait_start or forced (SENTINEL FAILOVER needs no votes),
// none knows a live sentinel outside the topology (its vote would be unknown), each one's own
// vote (SentinelNode.Vote, read from the sentinel itself: the records of its peers may be a
// previous election's) is in the same epoch, newer than every sentinel's configuration, and no
// candidate holds the votes it needs by its own count (its quorum, and a majority of the
// sentinels it knows). A sentinel votes once per epoch, so nobody is elected in that epoch; the
// candidates abort only after the election timeout (failover-timeout, at most 10 s) and try
// again after 2 × failover-timeout (measured: 11.8 s without a master). Neither can SENTINEL
// FAILOVER run before they abort (INPROG). No sentinel can start a failover meanwhile, so the
// healer promotes (promoteDoomed) without racing one. The replicas must all answer, and no pod
// may be master: the one promoted must hold the most data.
func (v *view) electionDoomed() bool {
	n := len(v.t.Sentinels)
	if n == 0 || len(v.o.Sentinels) < n || len(v.masters()) > 0 {
		return false
	}
	var addr hooks.Endpoint
	var newestConfig, epoch int64
	byRunID := map[string]*SentinelNode{} // the sentinels of the topology, by the run id their peers know
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !s.Reachable() || s.Master == nil || s.Vote == nil {
			return false
		}
		a := hooks.Endpoint{Host: s.Master.IP, Port: s.Master.Port}
		if i > 0 && a != addr {
			return false
		}
		addr, newestConfig, epoch = a, max(newestConfig, s.Master.ConfigEpoch), max(epoch, s.Vote.Epoch)
		if s.Master.FailoverInProgress() && (s.Master.FailoverState != "wait_start" || s.Master.HasFlag("force_failover")) {
			return false
		}
		for _, p := range s.Sentinels {
			if !v.isSen[p.IP] && !p.HasFlag("s_down") && !p.HasFlag("disconnected") {
				return false // a live sentinel outside the topology: its vote is unknown
			}
		}
	}
	for i := range v.o.Redis {
		r := &v.o.Redis[i]
		if !r.Reachable() && v.endpoint(r) != addr {
			return false // a replica that does not answer may hold more data
		}
	}
	for i := range v.o.Sentinels {
		for _, p := range v.o.Sentinels[i].Sentinels {
			for j := range v.o.Sentinels {
				if p.RunID != "" && v.o.Sentinels[j].Pod.IP == p.IP {
					byRunID[p.RunID] = &v.o.Sentinels[j]
				}
			}
		}
	}
	if epoch <= newestConfig {
		return false
	}
	count := map[string]int{}
	for _, s := range v.o.Sentinels {
		if s.Vote.Epoch != epoch || s.Vote.Leader == "" {
			return false // this sentinel may still vote in that epoch
		}
		count[s.Vote.Leader]++
	}
	for leader, c := range count {
		l := byRunID[leader]
		if l == nil {
			return false // a leader the healer cannot read: its own count is unknown
		}
		if c >= max(l.Master.Quorum, (l.Master.NumOtherSentinels+1)/2+1, 1) {
			return false
		}
	}
	return true
}

// promoteDoomed is rule 4 after a doomed election (electionDoomed): the node with the most data
// is promoted, the others follow it, and every sentinel monitors it anew, which ends the failover
// it was waiting for. No +switch-master is published: clients that asked Sentinel reconnect when
// the old master's connection fails, and find the new one.
func (v *view) promoteDoomed() []Action {
	e, acts := v.promoteBest("the sentinels' election of a failover leader failed (every sentinel voted, none has a majority) and they would wait for the election timeout")
	if e == nil {
		return nil
	}
	return append(acts, v.sentinels(*e)...)
}
