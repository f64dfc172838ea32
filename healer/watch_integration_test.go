package healer

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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

// startSentinelWriter writes through a Sentinel-aware client (rueidis in sentinel mode), SET
// alone with a 250 ms deadline every 10 ms, until the test ends; it returns once a write went
// through.
func startSentinelWriter(t *testing.T, c *redistest.Cluster) *redistest.Writer {
	t.Helper()
	started := time.Now()
	w, _ := startWriter(t, c.SentinelClient(t), redistest.WriterConfig{Prefix: "w:",
		Timeout: 250 * time.Millisecond, Pause: 10 * time.Millisecond})
	_, ok := w.Recovery(context.Background(), started, 5*time.Second)
	require.True(t, ok, "no write through Sentinel within 5 s")
	return w
}

func TestIntegrationWatcherRestartedMaster(t *testing.T) {
	// Rule 11 in a cluster: the kubelet restarts the killed master within a second, nothing
	// changes in the topology and down-after is 5 s. Only the master watcher can notice.
	c := redistest.NewCluster(t, "watch", redistest.Options{Redis: 3, Sentinels: 3, DownAfter: 5 * time.Second})
	p := startSlowPool(t)
	p.Track(topology(c))
	old := waitConverged(t, p, c, 15*time.Second)
	write(t, old, "k", 100, 2)
	waitSentinelsKnowReplicas(t, c, 2)
	w := startSentinelWriter(t, c)
	passes := p.passes(t)
	promotes := p.metric(t, "redhook_healer_actions_total", "action", "promote")

	killed := time.Now()
	t.Logf("kill at %d", killed.UnixMilli())
	if os.Getenv("HEALER_TEST_LOG") != "" {
		t.Cleanup(func() {
			for _, s := range c.Sentinels {
				b, _ := os.ReadFile(s.LogPath())
				t.Logf("%s:\n%s", s.Name, b)
			}
		})
	}
	old.Kill()
	old.Wipe()
	time.Sleep(time.Second) // what a kubelet does
	failovers := p.metric(t, "redhook_healer_actions_total", "action", "sentinel-failover")
	old.Start()
	restarted := time.Now()
	asked := redistest.WaitFor(t, 3*time.Second, "rule 11: SENTINEL FAILOVER asked", func() error {
		if p.metric(t, "redhook_healer_actions_total", "action", "sentinel-failover") == failovers {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	took, ok := w.Recovery(context.Background(), restarted, 5*time.Second)
	require.True(t, ok, "a Sentinel-aware client writes again within 5 s of the restart")
	t.Logf("master killed, restarted empty after 1 s: SENTINEL FAILOVER %v after the restart; Sentinel client writes again %v after the kill (%v after the restart)",
		asked.Round(time.Millisecond), (restarted.Sub(killed) + took).Round(time.Millisecond), took.Round(time.Millisecond))
	// Without the watcher the pass would come after FastInterval (5 s) or Sentinel's +reboot.
	assert.Less(t, asked, time.Second, "the watcher saw the restart")
	// Sentinel then needs up to two of its 1 s INFO periods (promotion, replica reconfigured).
	assert.Less(t, took, 3*time.Second)
	m := waitConverged(t, p, c, 10*time.Second)
	assert.NotEqual(t, old, m)
	for _, n := range c.Redis {
		redistest.WaitFor(t, 5*time.Second, n.Name+" keeps every key", func() error {
			if got := dbsize(n); got < 100 {
				return fmt.Errorf("%d keys", got)
			}
			return nil
		})
	}
	r := p.Report(reportKey(c))
	assert.True(t, hasAction(r, "sentinel failover", "restarted as a replica of 127.0.0.1:1"), actionLog(r))
	assert.Equal(t, promotes, p.metric(t, "redhook_healer_actions_total", "action", "promote"),
		"Sentinel promotes, so that clients hear +switch-master:\n%s", actionLog(r))
	assert.GreaterOrEqual(t, p.metric(t, "redhook_healer_watch_triggers_total", "", ""), 2.0, "dead, then restarted")
	t.Logf("heal passes during the failover: %v", p.passes(t)-passes)
}

func TestIntegrationWatcherHostGone(t *testing.T) {
	// The master's host is gone: the healer only watches, Sentinel fails over after down-after,
	// and the report names the new master at once (+switch-master and the watcher).
	c := redistest.NewCluster(t, "gone", redistest.Options{Redis: 3, Sentinels: 3, DownAfter: 1 * time.Second})
	p := startSlowPool(t)
	p.Track(topology(c))
	old := waitConverged(t, p, c, 15*time.Second)
	write(t, old, "k", 20, 2)
	waitSentinelsKnowReplicas(t, c, 2)
	w := startSentinelWriter(t, c)
	promotes := p.metric(t, "redhook_healer_actions_total", "action", "promote")
	killed := time.Now()
	old.Kill()
	took, ok := w.Recovery(context.Background(), killed, 10*time.Second)
	require.True(t, ok, "a Sentinel-aware client writes again within 10 s of the kill")
	reported := redistest.WaitFor(t, 10*time.Second, "new master reported", func() error {
		r := p.Report(reportKey(c))
		if r.Master == nil || r.Master.IP == old.IP {
			return fmt.Errorf("report master %v", r.Master)
		}
		return nil
	})
	t.Logf("host gone, down-after 1000 ms: Sentinel client writes again after %v, new master reported %v later",
		took.Round(time.Millisecond), reported.Round(time.Millisecond))
	waitConverged(t, p, c, 10*time.Second, old)
	r := p.Report(reportKey(c))
	assert.Equal(t, promotes, p.metric(t, "redhook_healer_actions_total", "action", "promote"),
		"Sentinel fails over, the healer waits:\n%s", actionLog(r))
	assert.False(t, hasAction(r, "sentinel failover", ""), "no failover on a guess:\n%s", actionLog(r))
	assert.Contains(t, p.logs.String(), "master watcher: heal pass now")
}

func TestIntegrationReportFollowsPromotion(t *testing.T) {
	// A planned failover (a preStop hand-over asks SENTINEL FAILOVER): the report must name the
	// promoted replica at the promotion, not once the failover ends (+failover-end,
	// +switch-master), which comes only after Sentinel read the promoted replica and each other
	// one following it, one at a time (parallel-syncs 1), reading each once a second: three reads
	// after the promotion. Nothing else starts a pass meanwhile: the pool re-checks on its own
	// every minute, and the old master is not touched before the end.
	c := redistest.NewCluster(t, "promo", redistest.Options{Redis: 4, Sentinels: 3, DownAfter: 5 * time.Second,
		Monitor: []redistest.Setting{{Key: "parallel-syncs", Value: "1"}}})
	p := startSlowPool(t)
	p.Track(topology(c))
	old := waitConverged(t, p, c, 15*time.Second)
	waitSentinelsKnowReplicas(t, c, 3)

	// The first end of the failover any sentinel announces.
	ended := make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for _, s := range c.Sentinels {
		cl, err := redistest.NewClient(s.Addr(), "")
		require.NoError(t, err)
		t.Cleanup(cl.Close)
		dc, release := cl.Dedicate()
		t.Cleanup(release)
		subscribed := make(chan struct{}, 2)
		dc.SetPubSubHooks(rueidis.PubSubHooks{
			OnMessage: func(rueidis.PubSubMessage) {
				select {
				case ended <- time.Now():
				default:
				}
			},
			OnSubscription: func(rueidis.PubSubSubscription) { subscribed <- struct{}{} },
		})
		require.NoError(t, dc.Do(ctx, dc.B().Subscribe().Channel("+failover-end", "+switch-master").Build()).Error())
		<-subscribed
		<-subscribed
	}

	redistest.WaitFor(t, 15*time.Second, "SENTINEL FAILOVER accepted", func() error {
		return c.Sentinels[0].Do("SENTINEL", "FAILOVER", redistest.MasterName).Error()
	})
	asked := time.Now()
	var reported time.Time
	redistest.WaitFor(t, 20*time.Second, "the report names another master", func() error {
		r := p.Report(reportKey(c))
		if r.Master == nil || r.Master.IP == old.IP {
			return fmt.Errorf("report master %v", r.Master)
		}
		reported = time.Now()
		return nil
	})
	var end time.Time
	select {
	case end = <-ended:
	case <-time.After(20 * time.Second):
		t.Fatal("no sentinel announced the end of the failover within 20 s")
	}
	t.Logf("SENTINEL FAILOVER asked; the report named the new master after %v, the failover ended after %v",
		reported.Sub(asked).Round(time.Millisecond), end.Sub(asked).Round(time.Millisecond))
	assert.True(t, reported.Before(end), "the report named the promoted replica before the failover ended")
}
