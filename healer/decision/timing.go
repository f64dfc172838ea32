package decision

import "fmt"

// Rule 12: the healer sets three of Sentinel's timing parameters (SENTINEL DEBUG, Redis 7.0+)
// on every sentinel, because Sentinel's defaults lose writes confirmed by WAIT 1. Sentinel does
// not persist them: a restarted sentinel is back at the defaults, so they are read and set
// again on every pass, like any other setting (rule 9: written only when they differ).
//
// INFO-PERIOD 1000 (default 10000). Sentinel picks the replica to promote on the offsets and
// priorities of its last INFO of each replica, up to 10 s old while the master is healthy; it
// drops to 1 s only once the master is ODOWN, and a forced SENTINEL FAILOVER (rule 11) never
// waits for it. With 1 s, rule 13's priorities reach it within a second and its offsets are at
// most about a second old. Cost: one INFO per replica per second per sentinel.
//
// PING-PERIOD 250 (default 1000). After +switch-master Sentinel keeps the master's link object
// and starts its "no answer since" clock at once, but reconnects to the new address only one
// ping period after its last reconnection attempt, and the old master was dead, so that attempt
// is recent. With down-after-milliseconds ≤ 1000 the first PING to the new master then goes out
// when the clock already reads down-after: the new, healthy master is SDOWN about 1 s after the
// switch (measured here, Redis 7.0.15, D = 1000: 2 of 12 switches). With a 250 ms period the
// link is back within 250 ms (0 of 12), and a dead master is detected up to 750 ms sooner
// (SDOWN after down-after since the first unanswered PING).
//
// ASK-PERIOD 250 (default 1000). A sentinel counts towards ODOWN the "master is down" answers
// of its peers until they are 5 ask periods old, and it keeps them across +switch-master, for
// whatever master they were about. After two failovers within 5 s, one sentinel's spurious SDOWN
// above was counted as ODOWN with the stale answers of the previous failover ("#quorum 3/2"
// while the two peers saw the master up) and it failed over a healthy master: writes confirmed
// by the replica that was not promoted were lost (the chaos test, 121 writes). With 250 ms the
// answers expire after 1.25 s. Cost: while a master is SDOWN, one question per peer every 250 ms.
//
// See sentinelReconnectInstance, sentinelResetMaster, sentinelCheckSubjectivelyDown and
// sentinelAskMasterStateToOtherSentinels in Redis' sentinel.c.
var sentinelTimings = []struct {
	key    string
	millis int64
	why    string
}{
	{infoPeriodKey, sentinelInfoPeriod, "Sentinel would pick the replica to promote on offsets up to that old"},
	{"PING-PERIOD", 250, "Sentinel would declare a new master down about 1 s after a switch with down-after ≤ 1 s"},
	{"ASK-PERIOD", 250, "Sentinel would count its peers' stale down answers towards ODOWN for 5 periods"},
}

// sentinelInfoPeriod is the INFO period, in milliseconds, that rule 12 sets: the age of
// Sentinel's view of the replicas' priorities and offsets (rule 13 relies on it).
const sentinelInfoPeriod = 1000

// infoPeriodKey names the INFO period in SENTINEL DEBUG.
const infoPeriodKey = "INFO-PERIOD"

// sentinelDebug is rule 12: every timing parameter of sentinelTimings that a reachable sentinel
// reported with another value. One that it did not report is never written.
func (v *view) sentinelDebug() []Action {
	if !v.t.SentinelsEnabled {
		return nil
	}
	var acts []Action
	for i := range v.o.Sentinels {
		s := &v.o.Sentinels[i]
		if !s.Reachable() {
			continue
		}
		for _, p := range sentinelTimings {
			got, ok := s.Debug[p.key]
			if !ok || got == p.millis {
				continue
			}
			acts = append(acts, SentinelDebug{Sentinel: s.Pod.Name, Key: p.key, Millis: p.millis,
				Why: fmt.Sprintf("is %d ms: %s", got, p.why)})
		}
	}
	return acts
}

// SentinelTimings are the timing parameters rule 12 sets: SENTINEL DEBUG key → milliseconds.
func SentinelTimings() map[string]int64 {
	out := make(map[string]int64, len(sentinelTimings))
	for _, p := range sentinelTimings {
		out[p.key] = p.millis
	}
	return out
}
