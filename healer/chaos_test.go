package healer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIntegrationChaos kills and restarts, at random, the master, a replica or a sentinel of one
// 3 + 3 RedisFailover driven by a Pool, while a Sentinel-aware writer issues SET then WAIT 1 100
// on the same connection. After every quiet period: exactly one master, every replica linked,
// every sentinel naming it with rule 12's timings, and no write confirmed by WAIT missing. It
// runs for 2 minutes (REDHOOK_CHAOS=DURATION changes that; `make chaos` runs it alone) and logs
// what it did; -short skips it.
func TestIntegrationChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: not with -short")
	}
	dur := 2 * time.Minute
	if s := os.Getenv("REDHOOK_CHAOS"); s != "" {
		var err error
		dur, err = time.ParseDuration(s)
		require.NoError(t, err, "REDHOOK_CHAOS")
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t.Logf("chaos for %v, seed %d", dur, seed)

	c := newCluster(t, "chaos", clusterOpts{redis: 3, sentinels: 3, downAfter: 1000})
	p := startPool(t)
	p.Track(c.topo)
	master := waitConverged(t, p, c, 15*time.Second)
	w := c.chaosWriter(t)

	kills := map[string]int{}
	var masterChanges, rounds int
	var slowest time.Duration
	deadline := time.Now().Add(dur)
	for time.Now().Before(deadline) {
		rounds++
		p.Track(c.topo) // what Metacontroller's syncs do; the pool forgets an untracked RedisFailover
		var victim *proc
		var kind string
		switch k := rng.IntN(10); {
		case k < 4:
			victim, kind = master, "master"
		case k < 7:
			kind = "replica"
			for victim == nil || victim == master {
				victim = c.redis[rng.IntN(len(c.redis))]
			}
		default:
			victim, kind = c.sentinels[rng.IntN(len(c.sentinels))], "sentinel"
		}
		kills[kind]++
		victim.kill()
		time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond))))
		victim.start() // empty: no persistence, as an emptyDir after a restart
		start := time.Now()
		m := waitConverged(t, p, c, 60*time.Second)
		slowest = max(slowest, time.Since(start))
		if m != master {
			masterChanges++
			master = m
		}
		lost := c.missing(master, w.confirmedKeys())
		if !assert.Empty(t, lost, "round %d (%s %s killed): confirmed writes missing on %s", rounds, kind, victim.name, master.name) {
			break
		}
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second)))) // writes in a settled state
	}
	confirmed, unconfirmed, failed := w.counts()
	t.Logf("chaos: %d rounds; kills: master %d, replica %d, sentinel %d; master changes %d, failovers observed %v; "+
		"slowest convergence after a restart %v; writes confirmed by WAIT %d (none lost), unconfirmed %d, failed %d",
		rounds, kills["master"], kills["replica"], kills["sentinel"], masterChanges,
		p.metric(t, "redhook_healer_failovers_observed_total", "", ""), slowest.Round(time.Millisecond),
		confirmed, unconfirmed, failed)
}

// chaosWriter writes through Sentinel: SET then WAIT 1 100 on the same connection.
type chaosWriter struct {
	mu                            sync.Mutex
	confirmed                     []string
	unconfirmedCount, failedCount int
}

func (c *cluster) chaosWriter(t *testing.T) *chaosWriter {
	t.Helper()
	client := c.sentinelClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := &chaosWriter{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer client.Close()
		for i := 0; ctx.Err() == nil; i++ {
			key := fmt.Sprintf("chaos:%d", i)
			cctx, ccancel := context.WithTimeout(ctx, 500*time.Millisecond)
			res := client.DoMulti(cctx, client.B().Set().Key(key).Value("1").Build(),
				client.B().Wait().Numreplicas(1).Timeout(100).Build())
			ccancel()
			w.mu.Lock()
			switch n, err := res[1].AsInt64(); {
			case res[0].Error() != nil:
				w.failedCount++
			case err == nil && n >= 1:
				w.confirmed = append(w.confirmed, key)
			default:
				w.unconfirmedCount++
			}
			w.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *chaosWriter) confirmedKeys() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.confirmed...)
}

func (w *chaosWriter) counts() (confirmed, unconfirmed, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.confirmed), w.unconfirmedCount, w.failedCount
}

// missing returns the keys that p does not hold (at most 10 named, then a count).
func (c *cluster) missing(p *proc, keys []string) []string {
	c.t.Helper()
	var out []string
	n := 0
	for i := 0; i < len(keys); i += 500 {
		batch := keys[i:min(i+500, len(keys))]
		for _, k := range batch {
			got, err := c.do(p, "EXISTS", k).AsInt64()
			if err != nil || got != 1 {
				n++
				if len(out) < 10 {
					out = append(out, fmt.Sprintf("%s (%v)", k, err))
				}
			}
		}
	}
	if n > len(out) {
		out = append(out, fmt.Sprintf("… %d in all", n))
	}
	return out
}
