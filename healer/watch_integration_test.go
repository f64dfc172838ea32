package healer

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
)

// startSlowPool is a pool that re-checks on its own schedule only every minute (FastInterval
// 5 s): what heals fast in it was triggered by the master watcher or a Sentinel event, as for a
// healthy RedisFailover in a cluster, where no topology change arrives when a container restarts.
func startSlowPool(t *testing.T) *testPool {
	t.Helper()
	zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMs // milliseconds matter here
	return startPoolWith(t, Config{Workers: 4, Interval: time.Minute, FastInterval: 5 * time.Second,
		DialTimeout: 300 * time.Millisecond, CommandTimeout: time.Second, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, ForgetAfter: time.Hour, History: 50})
}

// sentinelWriter writes through a Sentinel-aware client (rueidis in sentinel mode) and records
// the time of every successful write.
type sentinelWriter struct {
	mu     sync.Mutex
	lastOK time.Time
	stop   context.CancelFunc
	done   chan struct{}
}

func (c *cluster) sentinelWriter(t *testing.T) *sentinelWriter {
	t.Helper()
	client := c.sentinelClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := &sentinelWriter{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer client.Close()
		for i := 0; ctx.Err() == nil; i++ {
			cctx, ccancel := context.WithTimeout(ctx, 250*time.Millisecond)
			err := client.Do(cctx, client.B().Set().Key(fmt.Sprintf("w:%d", i)).Value("1").Build()).Error()
			ccancel()
			if err == nil {
				w.mu.Lock()
				w.lastOK = time.Now()
				w.mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

func (w *sentinelWriter) wroteAfter(at time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.lastOK.After(at) {
		return fmt.Errorf("no write through Sentinel since %v", time.Since(at).Round(time.Millisecond))
	}
	return nil
}

func TestIntegrationWatcherRestartedMaster(t *testing.T) {
	// Rule 11 in a cluster: the kubelet restarts the killed master within a second, nothing
	// changes in the topology and down-after is 5 s. Only the master watcher can notice.
	c := newCluster(t, "watch", clusterOpts{redis: 3, sentinels: 3, downAfter: 5000})
	p := startSlowPool(t)
	p.Track(c.topo)
	old := waitConverged(t, p, c, 15*time.Second)
	c.write(old, "k", 100, 2)
	c.waitSentinelsKnowReplicas(t, 2)
	w := c.sentinelWriter(t)
	waitFor(t, 5*time.Second, "writes through Sentinel", func() error { return w.wroteAfter(time.Now().Add(-time.Second)) })
	passes := p.metric(t, "redhook_healer_passes_total", "result", "ok") + p.metric(t, "redhook_healer_passes_total", "result", "error")
	promotes := p.metric(t, "redhook_healer_actions_total", "action", "promote")

	killed := time.Now()
	t.Logf("kill at %d", killed.UnixMilli())
	if os.Getenv("HEALER_TEST_LOG") != "" {
		t.Cleanup(func() {
			for _, s := range c.sentinels {
				b, _ := os.ReadFile(s.dir + "/log")
				t.Logf("%s:\n%s", s.name, b)
			}
		})
	}
	old.kill()
	old.wipe()
	time.Sleep(time.Second) // what a kubelet does
	failovers := p.metric(t, "redhook_healer_actions_total", "action", "sentinel-failover")
	old.start()
	restarted := time.Now()
	asked := waitFor(t, 3*time.Second, "rule 11: SENTINEL FAILOVER asked", func() error {
		if p.metric(t, "redhook_healer_actions_total", "action", "sentinel-failover") == failovers {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	took := waitFor(t, 5*time.Second, "a Sentinel-aware client writes again", func() error { return w.wroteAfter(restarted) })
	t.Logf("master killed, restarted empty after 1 s: SENTINEL FAILOVER %v after the restart; Sentinel client writes again %v after the kill (%v after the restart)",
		asked.Round(time.Millisecond), (restarted.Sub(killed) + took).Round(time.Millisecond), took.Round(time.Millisecond))
	// Without the watcher the pass would come after FastInterval (5 s) or Sentinel's +reboot.
	assert.Less(t, asked, time.Second, "the watcher saw the restart")
	// Sentinel then needs up to two of its 1 s INFO periods (promotion, replica reconfigured).
	assert.Less(t, took, 3*time.Second)
	m := waitConverged(t, p, c, 10*time.Second)
	assert.NotEqual(t, old, m)
	for _, n := range c.redis {
		waitFor(t, 5*time.Second, n.name+" keeps every key", func() error {
			if got := c.dbsize(n); got < 100 {
				return fmt.Errorf("%d keys", got)
			}
			return nil
		})
	}
	r := p.Report(c.topo.Key())
	assert.True(t, hasAction(r, "sentinel failover", "restarted as a replica of 127.0.0.1:1"), actionLog(r))
	assert.Equal(t, promotes, p.metric(t, "redhook_healer_actions_total", "action", "promote"),
		"Sentinel promotes, so that clients hear +switch-master:\n%s", actionLog(r))
	assert.GreaterOrEqual(t, p.metric(t, "redhook_healer_watch_triggers_total", "", ""), 2.0, "dead, then restarted")
	after := p.metric(t, "redhook_healer_passes_total", "result", "ok") + p.metric(t, "redhook_healer_passes_total", "result", "error")
	t.Logf("heal passes during the failover: %v", after-passes)
}

func TestIntegrationWatcherHostGone(t *testing.T) {
	// The master's host is gone: the healer only watches, Sentinel fails over after down-after,
	// and the report names the new master at once (+switch-master and the watcher).
	c := newCluster(t, "gone", clusterOpts{redis: 3, sentinels: 3, downAfter: 1000})
	p := startSlowPool(t)
	p.Track(c.topo)
	old := waitConverged(t, p, c, 15*time.Second)
	c.write(old, "k", 20, 2)
	c.waitSentinelsKnowReplicas(t, 2)
	w := c.sentinelWriter(t)
	promotes := p.metric(t, "redhook_healer_actions_total", "action", "promote")
	killed := time.Now()
	old.kill()
	took := waitFor(t, 10*time.Second, "a Sentinel-aware client writes again", func() error { return w.wroteAfter(killed) })
	reported := waitFor(t, 10*time.Second, "new master reported", func() error {
		r := p.Report(c.topo.Key())
		if r.Master == nil || r.Master.IP == old.ip {
			return fmt.Errorf("report master %v", r.Master)
		}
		return nil
	})
	t.Logf("host gone, down-after 1000 ms: Sentinel client writes again after %v, new master reported %v later",
		took.Round(time.Millisecond), reported.Round(time.Millisecond))
	waitConverged(t, p, c, 10*time.Second, old)
	r := p.Report(c.topo.Key())
	assert.Equal(t, promotes, p.metric(t, "redhook_healer_actions_total", "action", "promote"),
		"Sentinel fails over, the healer waits:\n%s", actionLog(r))
	assert.False(t, hasAction(r, "sentinel failover", ""), "no failover on a guess:\n%s", actionLog(r))
	assert.Contains(t, p.logs.String(), "master watcher: heal pass now")
}
