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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Integration tests: the healer against real redis-server and redis-sentinel processes (see
// cluster_test.go). Each test asserts the converged state of the processes themselves, read with
// the test's own clients, and the healer's report.

// testPool is a running pool with fast timings, its metrics registry and its log.
type testPool struct {
	*Pool
	reg  *prometheus.Registry
	logs *redistest.SyncBuffer
}

func startPool(t *testing.T) *testPool {
	t.Helper()
	return startPoolWith(t, testConfig())
}

// testConfig is the pool configuration of the integration tests: short intervals.
func testConfig() Config {
	return Config{Workers: 4, Interval: 300 * time.Millisecond, FastInterval: 100 * time.Millisecond,
		DialTimeout: 300 * time.Millisecond, CommandTimeout: time.Second, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, ForgetAfter: time.Minute, History: 50}
}

// startPoolWith runs a pool with cfg (its registry and log are the test's) until the test ends;
// the log is printed when the test fails (kept under $REDHOOK_TEST_LOGS when that is set), or
// always when HEALER_TEST_LOG is set.
func startPoolWith(t *testing.T, cfg Config) *testPool {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := redistest.CaptureLog(t, "healer") // printed after the pool has stopped
	cfg.Registerer = reg
	p, err := NewPool(cfg, zerolog.New(logs).With().Timestamp().Logger())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("pool did not stop within 10 s")
		}
		if !t.Failed() && os.Getenv("HEALER_TEST_LOG") != "" { // CaptureLog prints it when the test failed
			t.Logf("healer log:\n%s", logs.String())
		}
	})
	return &testPool{Pool: p, reg: reg, logs: logs}
}

// waitSentinelsKnowReplicas waits until every sentinel lists n replicas: Sentinel can only fail
// over to replicas it discovered (INFO of the master, every 10 s).
func waitSentinelsKnowReplicas(t *testing.T, c *redistest.Cluster, n int) {
	t.Helper()
	// A sentinel learns its peers from their hellos: until every one knows the others, a
	// failover cannot be authorized, and a test that kills the master would see none.
	redistest.WaitFor(t, 15*time.Second, "sentinels know the replicas and each other", func() error {
		for _, s := range c.Sentinels {
			v, err := s.Do("SENTINEL", "REPLICAS", "mymaster").ToAny()
			if got, _ := v.([]any); err != nil || len(got) != n {
				return fmt.Errorf("%s knows %d replicas: %v", s.Name, len(got), err)
			}
			v, err = s.Do("SENTINEL", "SENTINELS", "mymaster").ToAny()
			if got, _ := v.([]any); err != nil || len(got) != len(c.Sentinels)-1 {
				return fmt.Errorf("%s knows %d other sentinels: %v", s.Name, len(got), err)
			}
		}
		return nil
	})
}

// metric reads one gauge or counter from the pool's registry: the series of name whose label
// has value (label empty: the only series). -1 when absent.
func (p *testPool) metric(t *testing.T, name, label, value string) float64 {
	t.Helper()
	families, err := p.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label == "" {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					if m.GetGauge() != nil {
						return m.GetGauge().GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return -1
}

// passes is the number of heal passes the pool has made, ok or not.
func (p *testPool) passes(t *testing.T) float64 {
	t.Helper()
	return max(0, p.metric(t, "redhook_healer_passes_total", "result", "ok")) +
		max(0, p.metric(t, "redhook_healer_passes_total", "result", "error"))
}

// waitPasses waits until the pool has made n heal passes more than from (what passes said at
// the point of interest): with n >= 2, at least one whole pass started after that point. A
// check that nothing else happens runs after it, rather than after a sleep that proves
// nothing on a slow machine.
func (p *testPool) waitPasses(t *testing.T, from float64, n int) {
	t.Helper()
	redistest.WaitFor(t, 15*time.Second, fmt.Sprintf("%d more heal passes", n), func() error {
		if got := p.passes(t); got < from+float64(n) {
			return fmt.Errorf("%v passes since", got-from)
		}
		return nil
	})
}

// reporter is a pool as the convergence checks read it (a testPool, a benchPool).
type reporter interface {
	Report(key string) hooks.HealerReport
}

// waitConverged waits until the processes converged and the report names the same master.
func waitConverged(t testing.TB, p reporter, c *redistest.Cluster, timeout time.Duration, skip ...*redistest.Proc) *redistest.Proc {
	t.Helper()
	var master *redistest.Proc
	redistest.WaitFor(t, timeout, "converged", func() error {
		m, err := converged(c, skip...)
		if err != nil {
			return err
		}
		r := p.Report(reportKey(c))
		if r.Master == nil || r.Master.IP != m.IP {
			return fmt.Errorf("report master %v, processes say %s", r.Master, m.IP)
		}
		master = m
		return nil
	})
	return master
}

// waitNewMaster waits until the processes (but skip) agree on a master other than old and the
// healer reports it; it returns that master and how long it took.
func waitNewMaster(t testing.TB, p reporter, c *redistest.Cluster, old *redistest.Proc, limit time.Duration,
	skip ...*redistest.Proc) (*redistest.Proc, time.Duration) {
	t.Helper()
	var master *redistest.Proc
	took := redistest.WaitFor(t, limit, "a new master, agreed and reported", func() error {
		m, err := converged(c, skip...)
		if err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("%s is still master", m.Name)
		}
		if r := p.Report(reportKey(c)); r.Master == nil || r.Master.IP != m.IP {
			return fmt.Errorf("report master %v, processes say %s", r.Master, m.IP)
		}
		master = m
		return nil
	})
	return master, took
}

// switchMessages subscribes to +switch-master on a sentinel of c, as Sentinel-aware clients do,
// until the test ends.
func switchMessages(t *testing.T, c *redistest.Cluster) <-chan string {
	t.Helper()
	sub, err := redistest.NewClient(c.Sentinels[0].Addr(), "")
	require.NoError(t, err)
	switched := make(chan string, 8)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sub.Receive(ctx, sub.B().Subscribe().Channel("+switch-master").Build(),
			func(m rueidis.PubSubMessage) {
				select {
				case switched <- m.Message:
				default:
				}
			})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		sub.Close()
	})
	time.Sleep(100 * time.Millisecond) // subscribed
	return switched
}

func actionLog(r hooks.HealerReport) string {
	var b strings.Builder
	for _, a := range r.LastActions {
		fmt.Fprintf(&b, "%s: %s\n", a.Action, a.Reason)
	}
	return b.String()
}

func hasAction(r hooks.HealerReport, prefix, reason string) bool {
	for _, a := range r.LastActions {
		if strings.HasPrefix(a.Action, prefix) && strings.Contains(a.Reason, reason) {
			return true
		}
	}
	return false
}

func TestIntegrationFreshBootstrap(t *testing.T) {
	c := redistest.NewCluster(t, "fresh", redistest.Options{Redis: 3, Sentinels: 3})
	p := startPool(t)
	p.Track(topology(c))
	took := waitConverged(t, p, c, 15*time.Second)
	r := p.Report(reportKey(c))
	assert.Equal(t, c.Redis[0], took, "all empty: the lowest ordinal is promoted")
	assert.True(t, hasAction(r, "promote "+c.Redis[0].Name, "no master"), actionLog(r))
	assert.True(t, hasAction(r, "replicaof "+c.Redis[1].Name, "booted as a replica of the placeholder"), actionLog(r))
	assert.False(t, r.FailoverInProgress)
	assert.Empty(t, r.Errors)
	for _, s := range r.Sentinels {
		assert.Equal(t, c.Redis[0].IP, s.MasterIP, s.Pod)
	}
	// Replication works end to end.
	write(t, c.Redis[0], "k", 10, 2)
	assert.EqualValues(t, 10, dbsize(c.Redis[1]))
	// Sentinels found each other (the loopback trap would make them see one address).
	redistest.WaitFor(t, 10*time.Second, "sentinels see each other", func() error {
		for _, s := range c.Sentinels {
			v, err := s.Do("SENTINEL", "SENTINELS", "mymaster").ToAny()
			n, _ := v.([]any)
			if err != nil || len(n) != 2 {
				return fmt.Errorf("%s knows %d sentinels: %v", s.Name, len(n), err)
			}
		}
		return nil
	})
	// Metrics: per-RedisFailover gauges.
	assert.Equal(t, 1.0, p.metric(t, "redhook_redisfailover_master_known", "name", "fresh"))
	assert.Equal(t, 3.0, p.metric(t, "redhook_redisfailover_sentinels_agreeing", "name", "fresh"))
	assert.Equal(t, 2.0, p.metric(t, "redhook_redisfailover_replicas_in_sync", "name", "fresh"))
	assert.GreaterOrEqual(t, p.metric(t, "redhook_healer_actions_total", "action", "promote"), 1.0)
}

// TestIntegrationOnActionSeesEveryAction: the report keeps only the last History actions;
// Config.OnAction receives each of them, in order, with the RedisFailover's key.
func TestIntegrationOnActionSeesEveryAction(t *testing.T) {
	c := redistest.NewCluster(t, "onaction", redistest.Options{Redis: 3, Sentinels: 3})
	var mu sync.Mutex
	var seen []hooks.ActionRecord
	cfg := testConfig()
	cfg.History = 1
	cfg.OnAction = func(key string, a hooks.ActionRecord, _ error) {
		if key == reportKey(c) {
			mu.Lock()
			seen = append(seen, a)
			mu.Unlock()
		}
	}
	p := startPoolWith(t, cfg)
	p.Track(topology(c))
	waitConverged(t, p, c, 15*time.Second)
	// The pass hands its actions to OnAction before its report: wait for the report.
	redistest.WaitFor(t, 5*time.Second, "the report's action is the last one seen", func() error {
		r := p.Report(reportKey(c))
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 || len(r.LastActions) != 1 || r.LastActions[0] != seen[len(seen)-1] {
			return fmt.Errorf("seen:\n%sreport:\n%s", actionLog(hooks.HealerReport{LastActions: seen}), actionLog(r))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	all := hooks.HealerReport{LastActions: seen}
	assert.True(t, hasAction(all, "promote "+c.Redis[0].Name, "no master"), actionLog(all))
	for _, pod := range c.Redis[1:] {
		assert.True(t, hasAction(all, "replicaof "+pod.Name, "booted as a replica of the placeholder"), actionLog(all))
	}
	assert.True(t, strings.HasPrefix(seen[0].Action, "promote "), "the promotion comes first:\n%s", actionLog(all))
}

// TestIntegrationMasterKilledWithAuth: redis requires a password; the sentinels require it too
// only with spec.auth.sentinel (by default they require none, as in spotahome). Either way the
// healer authenticates where it must, and the password is never logged.
func TestIntegrationMasterKilledWithAuth(t *testing.T) {
	const password = "s3cr3t-Pa55 word"
	for name, openSentinels := range map[string]bool{"sentinels without password": true, "sentinels with password": false} {
		t.Run(name, func(t *testing.T) {
			c := redistest.NewCluster(t, "killed", redistest.Options{Redis: 3, Sentinels: 3, Password: password,
				OpenSentinels: openSentinels})
			p := startPool(t)
			p.Track(topology(c))
			old := waitConverged(t, p, c, 15*time.Second)
			write(t, old, "k", 50, 2)
			waitSentinelsKnowReplicas(t, c, 2)

			old.Kill()
			// 35 s: the sentinels may split their vote (seen once under -race: all three reached
			// ODOWN in the same millisecond and voted for themselves); Sentinel then retries after
			// twice failover-timeout (10 s). The time it took is logged below.
			_, took := waitNewMaster(t, p, c, old, 35*time.Second, old)
			t.Logf("master killed: new master agreed and reported after %v (down-after 1000 ms)", took)
			r := p.Report(reportKey(c))
			assert.NotEqual(t, old.IP, r.Master.IP)
			var oldObs hooks.RedisReport
			for _, n := range r.Redis {
				if n.Pod == old.Name {
					oldObs = n
				}
			}
			assert.False(t, oldObs.Reachable, "the killed master is reported unreachable")
			assert.NotEmpty(t, r.Errors)

			old.Start() // empty (no persistence), booting as a replica of the placeholder
			master := waitConverged(t, p, c, 15*time.Second)
			assert.NotEqual(t, old, master, "the restarted old master rejoins as a replica")
			redistest.WaitFor(t, 5*time.Second, "old master resynced", func() error {
				if n := dbsize(old); n != 50 {
					return fmt.Errorf("%s has %d keys", old.Name, n)
				}
				return nil
			})
			// The +switch-master event came through the (authenticated) subscription. Every sentinel
			// publishes it; it is counted once per switch (Sentinel itself may switch twice in a row).
			assert.GreaterOrEqual(t, p.metric(t, "redhook_healer_failovers_observed_total", "", ""), 1.0)
			assert.NotContains(t, p.logs.String(), password, "the password never appears in a log line")
			assert.NotContains(t, fmt.Sprintf("%+v", p.Report(reportKey(c))), password)
		})
	}
}

func TestIntegrationRestartedEmptyMaster(t *testing.T) {
	// Rule 11 with Sentinel's down-after at 5 s: Sentinel alone would keep the empty master (or
	// take down-after + 20 s); the healer makes it fail over at once and no key is lost.
	c := redistest.NewCluster(t, "reboot", redistest.Options{Redis: 3, Sentinels: 3, DownAfter: 5 * time.Second})
	p := startPool(t)
	p.Track(topology(c))
	old := waitConverged(t, p, c, 15*time.Second)
	write(t, old, "k", 100, 2)

	old.Kill()
	old.Wipe()
	old.Start()
	took := redistest.WaitFor(t, 10*time.Second, "another master with every key", func() error {
		m, err := converged(c)
		if err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("the restarted empty node %s is master", old.Name)
		}
		if n := dbsize(m); n != 100 {
			return fmt.Errorf("new master %s has %d keys", m.Name, n)
		}
		return nil
	})
	t.Logf("master restarted empty: writable master with every key after %v (Sentinel alone: 25+ s)", took)
	assert.Less(t, took, 10*time.Second)
	for _, n := range c.Redis {
		redistest.WaitFor(t, 5*time.Second, n.Name+" keeps every key", func() error {
			if got := dbsize(n); got != 100 {
				return fmt.Errorf("%d keys", got)
			}
			return nil
		})
	}
	r := p.Report(reportKey(c))
	assert.True(t, hasAction(r, "sentinel failover", "restarted as a replica of 127.0.0.1:1"), actionLog(r))
}

func TestIntegrationForeignMaster(t *testing.T) {
	c := redistest.NewCluster(t, "foreign", redistest.Options{Redis: 3, Sentinels: 3})
	foreign := c.Extra("rfr-other-0", 50, "")
	write(t, foreign, "foreign", 5, 0)
	p := startPool(t)
	p.Track(topology(c))
	master := waitConverged(t, p, c, 15*time.Second)
	write(t, master, "k", 20, 2)

	victim := c.Redis[1]
	if victim == master {
		victim = c.Redis[2]
	}
	require.NoError(t, victim.Do("REPLICAOF", foreign.IP, "6379").Error())
	waitConverged(t, p, c, 10*time.Second)
	r := p.Report(reportKey(c))
	assert.True(t, hasAction(r, "replicaof "+victim.Name, "which is not a pod of this RedisFailover"), actionLog(r))
	redistest.WaitFor(t, 5*time.Second, "victim resynced from its own master", func() error {
		if n := dbsize(victim); n != 20 {
			return fmt.Errorf("%d keys", n)
		}
		return nil
	})
}

// TestIntegrationHeldSpec: while the spec is held (invalid, Secret missing) the syncs bring only
// the pods. The pool must keep the RedisFailover past ForgetAfter and heal it with the last
// valid settings; a held topology of a RedisFailover it never knew is ignored.
func TestIntegrationHeldSpec(t *testing.T) {
	c := redistest.NewCluster(t, "held", redistest.Options{Redis: 2, Sentinels: 3})
	p := startPoolWith(t, Config{Workers: 2, Interval: 300 * time.Millisecond, FastInterval: 100 * time.Millisecond,
		DialTimeout: 300 * time.Millisecond, CommandTimeout: time.Second, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, ForgetAfter: time.Second, History: 50})
	p.Track(topology(c))
	master := waitConverged(t, p, c, 15*time.Second)

	topo := topology(c)
	held := hooks.Topology{Namespace: topo.Namespace, Name: topo.Name, Redis: topo.Redis,
		Sentinels: topo.Sentinels, Held: true}
	ctx, cancel := context.WithCancel(context.Background())
	syncs := make(chan struct{})
	go func() { // Metacontroller's syncs, each answered with a held spec
		defer close(syncs)
		for ctx.Err() == nil {
			p.Track(held)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	t.Cleanup(func() { cancel(); <-syncs })
	// Three times ForgetAfter, and passes made meanwhile: the pool had time and occasions to
	// forget it.
	heldSince, from := time.Now(), p.passes(t)
	redistest.WaitFor(t, 15*time.Second, "three times ForgetAfter and three passes", func() error {
		if held := time.Since(heldSince); held < 3*time.Second {
			return fmt.Errorf("held for %v", held)
		}
		if n := p.passes(t) - from; n < 3 {
			return fmt.Errorf("%v passes since", n)
		}
		return nil
	})
	require.NotNil(t, p.Report(reportKey(c)).Master, "forgotten while its syncs went on")

	replica := c.Redis[0]
	if replica == master {
		replica = c.Redis[1]
	}
	require.NoError(t, replica.Do("REPLICAOF", redistest.PlaceholderHost, strconv.Itoa(redistest.PlaceholderPort)).Error())
	redistest.WaitFor(t, 10*time.Second, "healed with the last valid settings", func() error {
		if _, err := converged(c); err != nil {
			return err
		}
		if r := p.Report(reportKey(c)); !hasAction(r, "replicaof "+replica.Name, "placeholder") {
			return fmt.Errorf("no replicaof %s in the report:\n%s", replica.Name, actionLog(r))
		}
		return nil
	})

	other := held
	other.Name = "never-valid"
	p.Track(other)
	assert.Equal(t, hooks.HealerReport{}, p.Report(other.Key()), "a held topology alone is nothing to heal with")
	assert.Equal(t, 1.0, p.metric(t, "redhook_healer_tracked", "", ""))
}

func TestIntegrationSplitBrain(t *testing.T) {
	c := redistest.NewCluster(t, "split", redistest.Options{Redis: 3, Sentinels: 3})
	p := startPool(t)
	p.Track(topology(c))
	master := waitConverged(t, p, c, 15*time.Second)
	write(t, master, "k", 20, 2)

	rogue := c.Redis[2]
	require.NotEqual(t, master, rogue)
	require.NoError(t, rogue.Do("REPLICAOF", "NO", "ONE").Error())
	write(t, rogue, "lost", 5, 0)
	kept := waitConverged(t, p, c, 10*time.Second)
	assert.Equal(t, master, kept, "the sentinel-agreed master is kept")
	r := p.Report(reportKey(c))
	assert.True(t, hasAction(r, "replicaof "+rogue.Name, "split brain: "+rogue.Name+" is also a master (offset"), actionLog(r))
	redistest.WaitFor(t, 5*time.Second, "rogue resynced", func() error {
		if n := dbsize(rogue); n != 20 {
			return fmt.Errorf("%d keys", n)
		}
		return nil
	})
}

func TestIntegrationNoQuorumPromotesHighestOffset(t *testing.T) {
	c := redistest.NewCluster(t, "noquorum", redistest.Options{Redis: 3, Sentinels: 3, NoStart: true})
	for _, r := range c.Redis {
		r.Start()
	}
	c.Sentinels[0].Start() // one sentinel of three: no quorum
	r0, r1, r2 := c.Redis[0], c.Redis[1], c.Redis[2]
	require.NoError(t, r1.Do("REPLICAOF", "NO", "ONE").Error())
	require.NoError(t, r2.Do("REPLICAOF", r1.IP, "6379").Error())
	redistest.WaitFor(t, 5*time.Second, "r2 linked", func() error {
		info, err := redisInfo(r2)
		if err != nil || !info.LinkUp {
			return fmt.Errorf("link down: %v", err)
		}
		return nil
	})
	write(t, r1, "k", 30, 1)
	r1.Kill() // r0 is empty (replica of the placeholder), r2 holds the data

	p := startPool(t)
	p.Track(topology(c))
	master := waitConverged(t, p, c, 15*time.Second, r1, c.Sentinels[1], c.Sentinels[2])
	assert.Equal(t, r2, master, "the highest offset is promoted, not the lowest ordinal")
	r := p.Report(reportKey(c))
	assert.True(t, hasAction(r, "promote "+r2.Name, "no master"), actionLog(r))
	assert.False(t, hasAction(r, "promote "+r0.Name, ""), actionLog(r))
	redistest.WaitFor(t, 5*time.Second, "r0 has the data", func() error {
		if n := dbsize(r0); n != 30 {
			return fmt.Errorf("%d keys", n)
		}
		return nil
	})
}

func TestIntegrationSentinelRestartedEmpty(t *testing.T) {
	c := redistest.NewCluster(t, "sentempty", redistest.Options{Redis: 2, Sentinels: 3})
	p := startPool(t)
	p.Track(topology(c))
	waitConverged(t, p, c, 15*time.Second)

	s := c.Sentinels[1]
	s.Kill()
	s.Wipe()
	s.Conf = c.SentinelConf(s, "", 0) // an emptyDir sentinel.conf without a monitor line
	s.Start()
	// The sentinel must be re-monitored by the healer (the report says so), and the whole
	// RedisFailover converged again. The two are checked together: the processes can look
	// converged a moment before the pass that re-monitored the sentinel has reported.
	took := redistest.WaitFor(t, 10*time.Second, "re-monitored", func() error {
		if _, err := converged(c); err != nil {
			return err
		}
		if r := p.Report(reportKey(c)); !hasAction(r, "sentinel monitor "+s.Name, "monitors nothing") {
			return fmt.Errorf("no re-monitor of %s in the report:\n%s", s.Name, actionLog(r))
		}
		return nil
	})
	t.Logf("sentinel restarted empty: re-monitored after %v", took)
}

func TestIntegrationStaleSentinelEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: Sentinel's 10 s INFO period, twice per sentinel")
	}
	c := redistest.NewCluster(t, "stale", redistest.Options{Redis: 2, Sentinels: 3})
	p := startPool(t)
	p.Track(topology(c))
	master := waitConverged(t, p, c, 15*time.Second)

	// A replica outside the topology (a pod that has since changed IP) is discovered by every
	// sentinel, then dies: its entry is stale.
	ghost := c.Extra("ghost", 60, master.IP)
	knows := func(s *redistest.Proc, ip string) bool {
		v, err := s.Do("SENTINEL", "REPLICAS", "mymaster").ToAny()
		require.NoError(t, err)
		peers, err := decision.ParseSentinelPeers(v)
		require.NoError(t, err)
		for _, r := range peers {
			if r.IP == ip {
				return true
			}
		}
		return false
	}
	redistest.WaitFor(t, 25*time.Second, "every sentinel discovered the ghost", func() error {
		for _, s := range c.Sentinels {
			if !knows(s, ghost.IP) {
				return fmt.Errorf("%s does not know %s", s.Name, ghost.IP)
			}
		}
		return nil
	})
	r := p.Report(reportKey(c))
	assert.False(t, hasAction(r, "sentinel reset", ""), "no reset while the ghost is connected:\n%s", actionLog(r))
	ghost.Kill()
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range c.Sentinels {
				a, _ := s.Do("SENTINEL", "SENTINELS", "mymaster").ToAny()
				b, _ := s.Do("SENTINEL", "REPLICAS", "mymaster").ToAny()
				t.Logf("%s sentinels %v\nreplicas %v", s.Name, a, b)
			}
		}
	})
	// Sentinel rediscovers replicas from the master's INFO, every 10 s: a reset sentinel is
	// complete again after up to 10 s, and only then is the next one reset.
	took := redistest.WaitFor(t, 45*time.Second, "stale entries gone", func() error {
		for _, s := range c.Sentinels {
			if knows(s, ghost.IP) {
				return fmt.Errorf("%s still knows %s", s.Name, ghost.IP)
			}
		}
		return nil
	})
	t.Logf("stale sentinel entries reset after %v", took)
	waitConverged(t, p, c, 5*time.Second)
	p.waitPasses(t, p.passes(t), 3) // no further reset in the passes after
	r = p.Report(reportKey(c))
	resets := 0
	for _, a := range r.LastActions {
		if strings.HasPrefix(a.Action, "sentinel reset") {
			resets++
			assert.Contains(t, a.Reason, "stale: replica "+ghost.IP+":6379")
		}
	}
	assert.Equal(t, 3, resets, "one reset per sentinel:\n%s", actionLog(r))
}

func TestIntegrationConfigDrift(t *testing.T) {
	c := redistest.NewCluster(t, "config", redistest.Options{Redis: 2, Sentinels: 3})
	topo := topology(c)
	topo.RedisConfig = []hooks.ConfigEntry{{Key: "maxmemory", Value: "100mb"},
		{Key: "maxmemory-policy", Value: "allkeys-lru"}}
	p := startPool(t)
	p.Track(topo)
	waitConverged(t, p, c, 15*time.Second)
	get := func(n *redistest.Proc, key string) string {
		v, err := n.Do("CONFIG", "GET", key).ToAny()
		require.NoError(t, err)
		kv, err := decision.ParseConfigGet(v)
		require.NoError(t, err)
		return kv[key]
	}
	redistest.WaitFor(t, 5*time.Second, "config applied", func() error {
		for _, n := range c.Redis {
			if get(n, "maxmemory") != "104857600" || get(n, "maxmemory-policy") != "allkeys-lru" {
				return fmt.Errorf("%s not configured", n.Name)
			}
		}
		return nil
	})
	p.waitPasses(t, p.passes(t), 3) // passes that find the config applied: no further CONFIG SET
	sets := p.metric(t, "redhook_healer_actions_total", "action", "config-set")
	sentinelSets := p.metric(t, "redhook_healer_actions_total", "action", "sentinel-set")
	assert.Equal(t, 4.0, sets, "one CONFIG SET per key and node, none when equal")

	require.NoError(t, c.Redis[1].Do("CONFIG", "SET", "maxmemory-policy", "noeviction").Error())
	require.NoError(t, c.Sentinels[0].Do("SENTINEL", "SET", "mymaster", "down-after-milliseconds", "4000").Error())
	redistest.WaitFor(t, 5*time.Second, "drift healed", func() error {
		if got := get(c.Redis[1], "maxmemory-policy"); got != "allkeys-lru" {
			return fmt.Errorf("maxmemory-policy %s", got)
		}
		v, err := c.Sentinels[0].Do("SENTINEL", "MASTER", "mymaster").ToAny()
		require.NoError(t, err)
		m, err := decision.ParseSentinelMaster(v)
		require.NoError(t, err)
		if m.Fields["down-after-milliseconds"] != "1000" {
			return fmt.Errorf("down-after %s", m.Fields["down-after-milliseconds"])
		}
		return nil
	})
	p.waitPasses(t, p.passes(t), 3) // passes after the heal: no further write
	assert.Equal(t, sets+1, p.metric(t, "redhook_healer_actions_total", "action", "config-set"))
	assert.Equal(t, sentinelSets+1, p.metric(t, "redhook_healer_actions_total", "action", "sentinel-set"))
}

func TestIntegrationBootstrapMode(t *testing.T) {
	c := redistest.NewCluster(t, "boot", redistest.Options{Redis: 2, Sentinels: 3})
	ext := c.Extra("external", 70, "")
	write(t, ext, "ext", 10, 0)
	topo := topology(c)
	topo.Bootstrap = &hooks.Endpoint{Host: ext.IP, Port: redistest.RedisPort}
	p := startPool(t)
	p.Track(topo)
	following := func() error {
		for _, n := range c.Redis {
			info, err := redisInfo(n)
			if err != nil {
				return err
			}
			if info.Role != hooks.RoleReplica || info.MasterHost != ext.IP || !info.LinkUp {
				return fmt.Errorf("%s: %s of %s link %v", n.Name, info.Role, info.MasterHost, info.LinkUp)
			}
			if got := dbsize(n); got != 10 {
				return fmt.Errorf("%s has %d keys", n.Name, got)
			}
			v, err := n.Do("CONFIG", "GET", "replica-priority").ToAny()
			if err != nil {
				return err
			}
			if kv, _ := decision.ParseConfigGet(v); kv["replica-priority"] != "0" {
				return fmt.Errorf("%s replica-priority %s", n.Name, kv["replica-priority"])
			}
		}
		for _, s := range c.Sentinels {
			if got, err := sentinelMaster(s); err != nil || got != ext.IP {
				return fmt.Errorf("%s monitors %q: %v", s.Name, got, err)
			}
		}
		return nil
	}
	redistest.WaitFor(t, 15*time.Second, "following the external node", following)
	// The passes after: nothing is promoted, everything still follows the external node.
	p.waitPasses(t, p.passes(t), 3)
	require.NoError(t, following(), "after three more passes")
	r := p.Report(reportKey(c))
	assert.Nil(t, r.Master, "the master is outside the RedisFailover")
	assert.LessOrEqual(t, p.metric(t, "redhook_healer_actions_total", "action", "promote"), 0.0,
		"nothing promoted:\n%s", actionLog(r))
}

// TestIntegrationMasterPodReplaced: the master's pod is force-deleted. Its process dies and the
// StatefulSet's replacement starts under the same name at another address, empty. The
// sentinels then agree on an address that is no pod of the RedisFailover: Sentinel must promote
// (the healer steers it to the replica with the data), never the healer by itself followed by
// SENTINEL REMOVE + MONITOR, which publishes no +switch-master and leaves Sentinel-aware
// clients on the dead address. No write is lost; the replacement joins as a replica.
func TestIntegrationMasterPodReplaced(t *testing.T) {
	c := redistest.NewCluster(t, "replaced", redistest.Options{Redis: 3, Sentinels: 3})
	p := startPool(t)
	tp := topology(c)
	p.Track(tp)
	old := waitConverged(t, p, c, 15*time.Second)
	write(t, old, "k", 50, 2)
	waitSentinelsKnowReplicas(t, c, 2)

	count := func(kind string) float64 { return p.metric(t, "redhook_healer_actions_total", "action", kind) }
	promotes, monitors := count("promote"), count("sentinel-monitor")
	switched := switchMessages(t, c) // what a Sentinel-aware client listens to
	old.Kill()
	replacement := c.Extra(old.Name, 50, "") // empty; booted as master: rule 3 must not keep it
	tp.Redis = slices.Clone(tp.Redis)        // the pool holds the tracked one
	for i := range tp.Redis {
		if tp.Redis[i].Name == old.Name {
			tp.Redis[i].IP = replacement.IP
		}
	}
	start := time.Now()
	p.Track(tp)
	master, took := waitNewMaster(t, p, c, old, 30*time.Second, old)
	r := p.Report(reportKey(c))
	t.Logf("master pod replaced: %s agreed and reported after %v", master.Name, took)
	assert.Equal(t, promotes, count("promote"), "the healer promoted by itself:\n%s", actionLog(r))
	assert.Equal(t, monitors, count("sentinel-monitor"), "the healer re-monitored instead of a Sentinel failover:\n%s", actionLog(r))
	select {
	case m := <-switched:
		assert.Contains(t, m, " "+old.IP+" 6379 "+master.IP+" 6379", "the +switch-master clients hear")
	case <-time.After(10 * time.Second):
		t.Error("no +switch-master within 10 s: Sentinel-aware clients would stay on the dead address")
	}
	assert.Equal(t, int64(50), dbsize(master), "keys on the new master")
	redistest.WaitFor(t, 15*time.Second, "the replacement replicates the new master", func() error {
		info, err := redisInfo(replacement)
		if err != nil {
			return err
		}
		if info.Role != hooks.RoleReplica || info.MasterHost != master.IP || dbsize(replacement) != 50 {
			return fmt.Errorf("role %s of %s, %d keys", info.Role, info.MasterHost, dbsize(replacement))
		}
		return nil
	})
	t.Logf("replacement in sync %v after the replacement", time.Since(start).Round(time.Millisecond))
}
