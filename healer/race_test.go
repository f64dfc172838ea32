package healer

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// masterSample is one look at the cluster by masterWatch: whether it had a master then.
type masterSample struct {
	at time.Time
	ok bool
}

// hasMaster tells whether c has a master a client can write to, as a Sentinel-aware client finds
// it: a quorum of the sentinels names one address (SENTINEL GET-MASTER-ADDR-BY-NAME) and the
// redis process there answers ROLE with role master. A node that is master but not named by a
// quorum, or named but a replica, takes no writes from such a client.
func hasMaster(c *redistest.Cluster) bool {
	votes := map[string]int{}
	for _, s := range c.Sentinels {
		if addr, err := sentinelMaster(s); err == nil && addr != "" {
			votes[addr]++
		}
	}
	for addr, n := range votes {
		if n < c.Quorum {
			continue
		}
		p := c.RedisByIP(addr)
		if p == nil {
			return false
		}
		v, err := p.Do("ROLE").ToAny()
		a, _ := v.([]any)
		return err == nil && len(a) > 0 && a[0] == hooks.RoleMaster
	}
	return false
}

// masterWatch samples hasMaster every 50 ms until stop is called, which returns the samples.
func masterWatch(c *redistest.Cluster) (stop func() []masterSample) {
	var mu sync.Mutex
	var samples []masterSample
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			ok := hasMaster(c)
			mu.Lock()
			samples = append(samples, masterSample{at: time.Now(), ok: ok})
			mu.Unlock()
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return func() []masterSample {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return samples
	}
}

// masterless is the longest time without a master in samples taken from `from` on: from the
// first sample without one to the next sample with one (or the last sample).
func masterless(samples []masterSample, from time.Time) time.Duration {
	var longest time.Duration
	var since time.Time
	for _, s := range samples {
		if s.at.Before(from) {
			continue
		}
		switch {
		case !s.ok && since.IsZero():
			since = s.at
		case s.ok && !since.IsZero():
			longest = max(longest, s.at.Sub(since))
			since = time.Time{}
		}
	}
	if !since.IsZero() && len(samples) > 0 {
		longest = max(longest, samples[len(samples)-1].at.Sub(since))
	}
	return longest
}

// firstMaster is how long after from the first sample with a master came (false: none did).
// Any master counts, not only the promoted replica: in these rounds the killed master restarts
// as a replica of a placeholder, so that the promoted replica is the only one there can be.
func firstMaster(samples []masterSample, from time.Time) (time.Duration, bool) {
	for _, s := range samples {
		if s.ok && !s.at.Before(from) {
			return s.at.Sub(from), true
		}
	}
	return 0, false
}

// failoverRound is what the sentinels' logs tell of one round.
type failoverRound struct {
	attempts []redistest.FailoverAttempt
	// raced are the healer's forced failovers that ran while a sentinel ran its own.
	raced []string
	// tilted are the sentinels that entered TILT mode: Sentinel does when its timer jumped by
	// more than 2 s (the host stalled the process: a config fsync took 4 s on a CI machine whose
	// disk other suites loaded), and then acts on nothing for tiltDuration.
	tilted []string
}

// tiltDuration is how long a sentinel stays in TILT mode.
const tiltDuration = 30 * time.Second

// readFailovers reads every sentinel's failover attempts since the log sizes of from.
func readFailovers(t *testing.T, c *redistest.Cluster, from map[*redistest.Proc]int64) failoverRound {
	t.Helper()
	var r failoverRound
	for _, s := range c.Sentinels {
		a, err := s.FailoverAttempts(from[s])
		require.NoError(t, err)
		r.attempts = append(r.attempts, a...)
		entries, err := s.LogSince(from[s])
		require.NoError(t, err)
		for _, e := range entries {
			if strings.HasPrefix(e.Msg, "+tilt") {
				r.tilted = append(r.tilted, s.Name+" at "+e.Time.Format("15:04:05.000"))
			}
		}
	}
	now := time.Now()
	for _, f := range r.attempts {
		if !f.Forced {
			continue
		}
		for _, o := range r.attempts {
			if !o.Forced && o.Sentinel != f.Sentinel && f.Overlaps(o, now) {
				r.raced = append(r.raced, fmt.Sprintf("SENTINEL FAILOVER on %s (epoch %d, %s) while %s failed over (epoch %d, elected %v, %s)",
					f.Sentinel, f.Epoch, f.Promoted, o.Sentinel, o.Epoch, o.Elected, o.Promoted))
			}
		}
	}
	return r
}

// side says who promoted in a round: "healer" (a forced SENTINEL FAILOVER), "sentinel" (its own
// failover), "both", or "none".
func (r failoverRound) side() string {
	var forced, own bool
	for _, a := range r.attempts {
		forced = forced || a.Forced && a.Elected
		own = own || !a.Forced && a.Elected
	}
	switch {
	case forced && own:
		return "both"
	case forced:
		return "healer"
	case own:
		return "sentinel"
	}
	return "none"
}

// promoted is the attempt that promoted a replica and read its promotion, the one that read it
// last if several did (a healer's forced failover and Sentinel's own, in a collision).
func (r failoverRound) promoted() (redistest.FailoverAttempt, bool) {
	var found redistest.FailoverAttempt
	for _, a := range r.attempts {
		if a.Elected && !a.PromotionSent.IsZero() && a.PromotionSeen.After(found.PromotionSeen) {
			found = a
		}
	}
	return found, !found.PromotionSeen.IsZero()
}

// promotionTimes is where a round's time without a master went, as far as the promoting
// sentinel tells.
type promotionTimes struct {
	// sent: from the kill to its SLAVEOF NO ONE.
	sent time.Duration
	// read: from SLAVEOF NO ONE to its next INFO of that replica, which Sentinel sends once a
	// second during a failover; until then it names the old master.
	read time.Duration
	// master: from SLAVEOF NO ONE to a master (hasMaster); -1 when none came.
	master time.Duration
}

// promotionTimes reads them from r and the round's samples (false: no sentinel promoted).
func (r failoverRound) promotionTimes(samples []masterSample,
	killed time.Time) (promotionTimes, bool) {
	a, ok := r.promoted()
	if !ok {
		return promotionTimes{}, false
	}
	pt := promotionTimes{sent: a.PromotionSent.Sub(killed), read: a.PromotionSeen.Sub(a.PromotionSent),
		master: -1}
	if d, ok := firstMaster(samples, a.PromotionSent); ok {
		pt.master = d
	}
	return pt, true
}

func (pt promotionTimes) String() string {
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	return fmt.Sprintf("SLAVEOF NO ONE %v after the kill, read in INFO %v later, a master %v after it",
		ms(pt.sent), ms(pt.read), ms(pt.master))
}

// spread is "min–max (n)" of ds, "none" when empty.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	lo, hi := slices.Min(ds), slices.Max(ds)
	return fmt.Sprintf("%v–%v (%d rounds)", lo.Round(time.Millisecond), hi.Round(time.Millisecond),
		len(ds))
}

func (r failoverRound) String() string {
	var b strings.Builder
	for _, s := range r.tilted {
		fmt.Fprintf(&b, "[TILT %s] ", s)
	}
	for _, a := range r.attempts {
		kind := "own"
		if a.Forced {
			kind = "forced"
		}
		fmt.Fprintf(&b, "[%s %s epoch %d elected %v -> %s %s..%s] ", a.Sentinel, kind, a.Epoch, a.Elected, a.Promoted,
			a.Start.Format("15:04:05.000"), a.End.Format("15:04:05.000"))
	}
	return b.String()
}

// readonlyErrors counts the writes refused with READONLY since t.
func readonlyErrors(w *redistest.Writer, since time.Time) int {
	n := 0
	for msg, k := range w.Errors(since) {
		if strings.HasPrefix(msg, "READONLY") {
			n += k
		}
	}
	return n
}

// TestIntegrationKillRestartRace: a user's first try of a failover, many times. With Sentinel's
// down-after-milliseconds at 1000, the master is SIGKILLed and restarted 0.9–1.1 s later at the same
// address (empty, or from a dump taken just before the kill), while a Sentinel-aware writer
// issues SET + WAIT 1. The restart lands right where Sentinel may be holding the master down and
// starting its own failover, and where the healer's rule 11 asks for one: the two must never
// run together (a forced failover skips Sentinel's leader election, so both promote, in the same
// epoch, two replicas that then demote each other: no master for seconds). Per round: no
// SENTINEL FAILOVER of the healer while a sentinel failed over (read from the sentinels' logs),
// never without a master (hasMaster) for longer than the bounds below once the old master is
// back, and no write confirmed by WAIT lost. A round in which a sentinel entered TILT mode (its
// process stalled by the host for over 2 s) gets TILT's 30 s more, and says so. REDHOOK_RACE_ROUNDS changes the 20 rounds; -short
// skips it (about 3 minutes).
func TestIntegrationKillRestartRace(t *testing.T) {
	if testing.Short() {
		t.Skip("kill/restart race: about 3 minutes, not with -short")
	}
	rounds := 20
	if s := os.Getenv("REDHOOK_RACE_ROUNDS"); s != "" {
		var err error
		rounds, err = strconv.Atoi(s)
		require.NoError(t, err, "REDHOOK_RACE_ROUNDS")
	}
	c := redistest.NewCluster(t, "race", redistest.Options{Redis: 3, Sentinels: 3, DownAfter: time.Second})
	p := startPool(t)
	p.Track(topology(c))
	waitConverged(t, p, c, 15*time.Second)
	w, stopWriter := startWriter(t, c.SentinelClient(t), redistest.WriterConfig{Prefix: "race:",
		Wait: 100 * time.Millisecond, Timeout: 500 * time.Millisecond})

	var raced, worst, sides []string
	var longest time.Duration
	var reads, sentToMaster []time.Duration // promotionTimes' read and master, each round
	for round := 1; round <= rounds; round++ {
		p.Track(topology(c))
		master := waitConverged(t, p, c, 30*time.Second)
		waitSentinelsKnowReplicas(t, c, 2) // so that Sentinel can fail over by itself too
		time.Sleep(300 * time.Millisecond)
		logs := map[*redistest.Proc]int64{}
		for _, s := range c.Sentinels {
			logs[s] = s.LogSize()
		}
		failovers := p.metric(t, "redhook_healer_actions_total", "action", "sentinel-failover")
		stopWatch := masterWatch(c)
		fromDump := round%2 == 0
		killed := time.Now()
		if fromDump {
			require.NoError(t, master.Do("SAVE").Error())
		}
		master.Kill()
		if !fromDump {
			master.Wipe()
		}
		time.Sleep(restartDelay(round))
		master.Start()
		restarted := time.Now()
		// 30 s, checked below, unless a sentinel entered TILT mode (then it acts on nothing for
		// 30 s more).
		newMaster := waitConverged(t, p, c, 30*time.Second+tiltDuration)
		convergedAfter := time.Since(restarted)
		time.Sleep(time.Second) // a master that is lost again right after convergence counts
		samples := stopWatch()

		fo := readFailovers(t, c, logs)
		if len(fo.tilted) == 0 && convergedAfter > 30*time.Second {
			t.Errorf("round %d converged %v after the restart (no sentinel in TILT): over 30 s", round, convergedAfter)
		}
		gap := masterless(samples, restarted)
		longest = max(longest, gap)
		healerFailovers := max(0, p.metric(t, "redhook_healer_actions_total", "action", "sentinel-failover")) - max(0, failovers)
		promotion := ""
		if pt, ok := fo.promotionTimes(samples, killed); ok {
			promotion = " (" + pt.String() + ")"
			reads = append(reads, pt.read)
			if pt.master >= 0 {
				sentToMaster = append(sentToMaster, pt.master)
			}
		}
		line := fmt.Sprintf("round %2d (%s): %s -> %s; masterless %v after the restart (%v since the kill); READONLY %d; "+
			"healer SENTINEL FAILOVERs %v; promoted by %s%s; %s",
			round, map[bool]string{true: "from dump", false: "empty"}[fromDump], master.Name, newMaster.Name,
			gap.Round(time.Millisecond), masterless(samples, killed).Round(time.Millisecond),
			readonlyErrors(w, killed), healerFailovers, fo.side(), promotion, fo)
		t.Log(line)
		sides = append(sides, fo.side())
		if len(fo.raced) > 0 {
			raced = append(raced, fmt.Sprintf("round %d: %s", round, strings.Join(fo.raced, "; ")))
		}
		if bound := fo.masterlessBound(); gap > bound {
			worst = append(worst, fmt.Sprintf("over %v: %s", bound, line))
		}
		client, err := newMaster.Client()
		require.NoError(t, err)
		loss, err := w.Verify(context.Background(), client)
		if !assert.Empty(t, firstKeys(loss.Confirmed), "round %d: confirmed writes missing on %s (read errors: %v)",
			round, newMaster.Name, err) {
			break
		}
	}
	stopWriter()
	n := w.Counts()
	t.Logf("%d rounds: promoted by %v; longest masterless after a restart %v; writes confirmed %d (none lost), "+
		"unconfirmed %d, failed %d (READONLY %d)", rounds, sides, longest.Round(time.Millisecond),
		n.Confirmed, n.Unconfirmed, n.Failed, readonlyErrors(w, time.Time{}))
	t.Logf("the promoting sentinel read its promotion (its next INFO of that replica) %s after "+
		"SLAVEOF NO ONE; a master came %s after it", spread(reads), spread(sentToMaster))
	assert.Empty(t, raced, "the healer's SENTINEL FAILOVER ran beside Sentinel's own")
	assert.Empty(t, worst, "without a master for too long after the restart")
}

// restartDelay is how long round's master stays down: down-after (1 s) ± up to 100 ms, so that
// the restart lands before the sentinels hold it down, as they do, or after (five rounds cover
// every delay).
func restartDelay(round int) time.Duration {
	return time.Second + time.Duration(round%5-2)*50*time.Millisecond
}

// masterlessBound is the longest a round may go without a master once the killed master is
// back: a failover by Sentinel takes up to ~1.7 s here (measured: its election, then up to one
// INFO period of 1 s before it reads the promoted replica as master, then the other sentinels
// follow its hello), so 3 s on a loaded 2-core machine. When Sentinel's election failed (every
// sentinel voted for itself) its candidates abort only after the election timeout
// (failover-timeout 10 s in these clusters): rule 11 can fail over only then, so such a round
// gets 10 s more.
func (r failoverRound) masterlessBound() time.Duration {
	if len(r.tilted) > 0 {
		return tiltDuration + 20*time.Second // TILT, then failover-timeout and the healer's passes
	}
	for _, a := range r.attempts {
		if a.Aborted == "-failover-abort-not-elected" {
			return 13 * time.Second
		}
	}
	return 3 * time.Second
}
