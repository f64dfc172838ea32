package healer

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/healer/redistest"
)

// TestIntegrationDoomedElection: the master is killed while the three sentinels are stopped
// (SIGSTOP), with quorum 1; they are resumed together, and each holds the master down, starts a
// failover and votes for itself in the same epoch before it hears the others: no candidate can
// be elected, and Sentinel would leave the RedisFailover without a master until the candidates
// abort (failover-timeout, 10 s here) and one is forced or tries again. A healer started once the
// election is split promotes the replica with the most data and monitors it anew on every
// sentinel within seconds. The master stays down (a replica holds every write it confirmed).
// Rounds where Sentinel happened to elect a leader are retried, up to 5.
func TestIntegrationDoomedElection(t *testing.T) {
	if testing.Short() {
		t.Skip("doomed election: about 30 seconds, not with -short")
	}
	c := redistest.NewCluster(t, "doomed", redistest.Options{Redis: 3, Sentinels: 3, DownAfter: time.Second})
	tp := topology(c)
	tp.Quorum = 1 // each sentinel holds the master objectively down by itself: they start together
	for round := 1; ; round++ {
		first, stop := runPool(t)
		first.Track(tp)
		master := waitConverged(t, first, c, 30*time.Second)
		waitSentinelsKnowReplicas(t, c, 2)
		redistest.WaitFor(t, 10*time.Second, "quorum 1 on every sentinel", func() error {
			for _, s := range c.Sentinels {
				if q, err := s.Do("SENTINEL", "CKQUORUM", redistest.MasterName).ToString(); err != nil {
					return fmt.Errorf("%s: %v", s.Name, err)
				} else if m := sentinelQuorum(s); m != "1" {
					return fmt.Errorf("%s: quorum %s (%s)", s.Name, m, q)
				}
			}
			return nil
		})
		stop() // the healer must not act before the election is split

		logs := map[*redistest.Proc]int64{}
		for _, s := range c.Sentinels {
			logs[s] = s.LogSize()
		}
		master.Kill()
		// The sentinels see the connection drop and start counting down-after; stopped, they
		// hold the master down at their first timer tick once resumed, all in the same few
		// milliseconds, each before it reads a peer's request for its vote.
		time.Sleep(100 * time.Millisecond)
		for _, s := range c.Sentinels {
			s.Signal(syscall.SIGSTOP)
		}
		time.Sleep(1200 * time.Millisecond) // past down-after, short of Sentinel's TILT (2 s)
		for _, s := range c.Sentinels {
			s.Signal(syscall.SIGCONT)
		}
		time.Sleep(1500 * time.Millisecond)
		var attempts []redistest.FailoverAttempt
		for _, s := range c.Sentinels {
			a, err := s.FailoverAttempts(logs[s])
			require.NoError(t, err)
			attempts = append(attempts, a...)
		}
		split := len(attempts) == len(c.Sentinels)
		for _, a := range attempts {
			split = split && !a.Elected && a.Epoch == attempts[0].Epoch
		}
		if !split {
			t.Logf("round %d: no split election (%v): Sentinel fails over; again", round, attempts)
			require.Less(t, round, 5, "no split election in 5 rounds")
			second, stop := runPool(t)
			second.Track(tp)
			waitConverged(t, second, c, 60*time.Second, master)
			stop()
			master.Start()
			continue
		}
		t.Logf("round %d: split election: %v", round, attempts)
		second, _ := runPool(t)
		start := time.Now()
		second.Track(tp)
		_, took := waitNewMaster(t, second, c, master, 5*time.Second, master)
		t.Logf("a master again %v after the healer started (Sentinel's candidates abort after 10 s)", took.Round(time.Millisecond))
		for _, s := range c.Sentinels {
			a, err := s.FailoverAttempts(logs[s])
			require.NoError(t, err)
			for _, x := range a {
				require.False(t, x.Elected && x.Start.After(start), "a sentinel failed over beside the healer: %v", x)
			}
		}
		return
	}
}

// sentinelQuorum is the quorum s holds for the master name.
func sentinelQuorum(s *redistest.Proc) string {
	v, err := s.Do("SENTINEL", "MASTER", redistest.MasterName).ToAny()
	if err != nil {
		return err.Error()
	}
	m, err := decision.ParseSentinelMaster(v)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprint(m.Quorum)
}
