package healer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Integration tests: the healer against real redis-server and redis-sentinel processes (see
// proc_test.go). Each test asserts the converged state of the processes themselves, read with
// the test's own clients, and the healer's report.

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testPool is a running pool with fast timings, its metrics registry and its log.
type testPool struct {
	*Pool
	reg  *prometheus.Registry
	logs *syncBuffer
}

func startPool(t *testing.T) *testPool {
	t.Helper()
	return startPoolWith(t, Config{Workers: 4, Interval: 300 * time.Millisecond, FastInterval: 100 * time.Millisecond,
		DialTimeout: 300 * time.Millisecond, CommandTimeout: time.Second, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, ForgetAfter: time.Minute, History: 50})
}

// startPoolWith runs a pool with cfg (its registry and log are the test's) until the test ends;
// the log is printed when the test fails or HEALER_TEST_LOG is set.
func startPoolWith(t *testing.T, cfg Config) *testPool {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
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
		if t.Failed() || os.Getenv("HEALER_TEST_LOG") != "" {
			t.Logf("healer log:\n%s", logs.String())
		}
	})
	return &testPool{Pool: p, reg: reg, logs: logs}
}

// waitSentinelsKnowReplicas waits until every sentinel lists n replicas: Sentinel can only fail
// over to replicas it discovered (INFO of the master, every 10 s).
func (c *cluster) waitSentinelsKnowReplicas(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 15*time.Second, "sentinels know the replicas", func() error {
		for _, s := range c.sentinels {
			v, err := c.do(s, "SENTINEL", "REPLICAS", "mymaster").ToAny()
			if got, _ := v.([]any); err != nil || len(got) != n {
				return fmt.Errorf("%s knows %d replicas: %v", s.name, len(got), err)
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

// waitConverged waits until the processes converged and the report names the same master.
func waitConverged(t *testing.T, p *testPool, c *cluster, timeout time.Duration, skip ...*proc) *proc {
	t.Helper()
	var master *proc
	waitFor(t, timeout, "converged", func() error {
		m, err := c.converged(skip...)
		if err != nil {
			return err
		}
		r := p.Report(c.topo.Key())
		if r.Master == nil || r.Master.IP != m.ip {
			return fmt.Errorf("report master %v, processes say %s", r.Master, m.ip)
		}
		master = m
		return nil
	})
	return master
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

// write sets n keys on p and waits until replicas replicas acknowledged them.
func (c *cluster) write(p *proc, prefix string, n, replicas int) {
	c.t.Helper()
	for i := 0; i < n; i++ {
		require.NoError(c.t, c.do(p, "SET", fmt.Sprintf("%s:%d", prefix, i), "v").Error())
	}
	acked, err := c.do(p, "WAIT", fmt.Sprint(replicas), "5000").AsInt64()
	require.NoError(c.t, err)
	require.EqualValues(c.t, replicas, acked, "WAIT")
}

func (c *cluster) dbsize(p *proc) int64 {
	n, err := c.do(p, "DBSIZE").AsInt64()
	if err != nil {
		return -1
	}
	return n
}

func TestIntegrationFreshBootstrap(t *testing.T) {
	c := newCluster(t, "fresh", clusterOpts{redis: 3, sentinels: 3})
	p := startPool(t)
	p.Track(c.topo)
	took := waitConverged(t, p, c, 15*time.Second)
	r := p.Report(c.topo.Key())
	assert.Equal(t, c.redis[0], took, "all empty: the lowest ordinal is promoted")
	assert.True(t, hasAction(r, "promote "+c.redis[0].name, "no master"), actionLog(r))
	assert.True(t, hasAction(r, "replicaof "+c.redis[1].name, "booted as a replica of the placeholder"), actionLog(r))
	assert.False(t, r.FailoverInProgress)
	assert.Empty(t, r.Errors)
	for _, s := range r.Sentinels {
		assert.Equal(t, c.redis[0].ip, s.MasterIP, s.Pod)
	}
	// Replication works end to end.
	c.write(c.redis[0], "k", 10, 2)
	assert.EqualValues(t, 10, c.dbsize(c.redis[1]))
	// Sentinels found each other (the loopback trap would make them see one address).
	waitFor(t, 10*time.Second, "sentinels see each other", func() error {
		for _, s := range c.sentinels {
			v, err := c.do(s, "SENTINEL", "SENTINELS", "mymaster").ToAny()
			n, _ := v.([]any)
			if err != nil || len(n) != 2 {
				return fmt.Errorf("%s knows %d sentinels: %v", s.name, len(n), err)
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

func TestIntegrationMasterKilledWithAuth(t *testing.T) {
	const password = "s3cr3t-Pa55 word"
	c := newCluster(t, "killed", clusterOpts{redis: 3, sentinels: 3, password: password})
	p := startPool(t)
	p.Track(c.topo)
	old := waitConverged(t, p, c, 15*time.Second)
	c.write(old, "k", 50, 2)
	c.waitSentinelsKnowReplicas(t, 2)

	old.kill()
	took := waitFor(t, 15*time.Second, "failover followed", func() error {
		m, err := c.converged(old)
		if err != nil {
			return err
		}
		if r := p.Report(c.topo.Key()); r.Master == nil || r.Master.IP != m.ip {
			return fmt.Errorf("report master %v, processes say %s", r.Master, m.ip)
		}
		return nil
	})
	t.Logf("master killed: new master agreed and reported after %v (down-after 1000 ms)", took)
	r := p.Report(c.topo.Key())
	assert.NotEqual(t, old.ip, r.Master.IP)
	var oldObs hooks.RedisReport
	for _, n := range r.Redis {
		if n.Pod == old.name {
			oldObs = n
		}
	}
	assert.False(t, oldObs.Reachable, "the killed master is reported unreachable")
	assert.NotEmpty(t, r.Errors)

	old.start() // empty (no persistence), booting as a replica of the placeholder
	master := waitConverged(t, p, c, 15*time.Second)
	assert.NotEqual(t, old, master, "the restarted old master rejoins as a replica")
	waitFor(t, 5*time.Second, "old master resynced", func() error {
		if n := c.dbsize(old); n != 50 {
			return fmt.Errorf("%s has %d keys", old.name, n)
		}
		return nil
	})
	// The +switch-master event came through the (authenticated) subscription. Every sentinel
	// publishes it; it is counted once per switch (Sentinel itself may switch twice in a row).
	assert.GreaterOrEqual(t, p.metric(t, "redhook_healer_failovers_observed_total", "", ""), 1.0)
	assert.NotContains(t, p.logs.String(), password, "the password never appears in a log line")
	assert.NotContains(t, fmt.Sprintf("%+v", p.Report(c.topo.Key())), password)
}

func TestIntegrationRestartedEmptyMaster(t *testing.T) {
	// Rule 11 with Sentinel's down-after at 5 s: Sentinel alone would keep the empty master (or
	// take down-after + 20 s); the healer makes it fail over at once and no key is lost.
	c := newCluster(t, "reboot", clusterOpts{redis: 3, sentinels: 3, downAfter: 5000})
	p := startPool(t)
	p.Track(c.topo)
	old := waitConverged(t, p, c, 15*time.Second)
	c.write(old, "k", 100, 2)

	old.kill()
	old.wipe()
	old.start()
	took := waitFor(t, 10*time.Second, "another master with every key", func() error {
		m, err := c.converged()
		if err != nil {
			return err
		}
		if m == old {
			return fmt.Errorf("the restarted empty node %s is master", old.name)
		}
		if n := c.dbsize(m); n != 100 {
			return fmt.Errorf("new master %s has %d keys", m.name, n)
		}
		return nil
	})
	t.Logf("master restarted empty: writable master with every key after %v (Sentinel alone: 25+ s)", took)
	assert.Less(t, took, 10*time.Second)
	for _, n := range c.redis {
		waitFor(t, 5*time.Second, n.name+" keeps every key", func() error {
			if got := c.dbsize(n); got != 100 {
				return fmt.Errorf("%d keys", got)
			}
			return nil
		})
	}
	r := p.Report(c.topo.Key())
	assert.True(t, hasAction(r, "sentinel failover", "restarted as a replica of 127.0.0.1:1"), actionLog(r))
}

func TestIntegrationForeignMaster(t *testing.T) {
	c := newCluster(t, "foreign", clusterOpts{redis: 3, sentinels: 3})
	foreign := c.extra("rfr-other-0", 50, "")
	c.write(foreign, "foreign", 5, 0)
	p := startPool(t)
	p.Track(c.topo)
	master := waitConverged(t, p, c, 15*time.Second)
	c.write(master, "k", 20, 2)

	victim := c.redis[1]
	if victim == master {
		victim = c.redis[2]
	}
	require.NoError(t, c.do(victim, "REPLICAOF", foreign.ip, "6379").Error())
	waitConverged(t, p, c, 10*time.Second)
	r := p.Report(c.topo.Key())
	assert.True(t, hasAction(r, "replicaof "+victim.name, "which is not a pod of this RedisFailover"), actionLog(r))
	waitFor(t, 5*time.Second, "victim resynced from its own master", func() error {
		if n := c.dbsize(victim); n != 20 {
			return fmt.Errorf("%d keys", n)
		}
		return nil
	})
}

// TestIntegrationHeldSpec: while the spec is held (invalid, Secret missing) the syncs bring only
// the pods. The pool must keep the RedisFailover past ForgetAfter and heal it with the last
// valid settings; a held topology of a RedisFailover it never knew is ignored.
func TestIntegrationHeldSpec(t *testing.T) {
	c := newCluster(t, "held", clusterOpts{redis: 2, sentinels: 3})
	p := startPoolWith(t, Config{Workers: 2, Interval: 300 * time.Millisecond, FastInterval: 100 * time.Millisecond,
		DialTimeout: 300 * time.Millisecond, CommandTimeout: time.Second, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, ForgetAfter: time.Second, History: 50})
	p.Track(c.topo)
	master := waitConverged(t, p, c, 15*time.Second)

	held := hooks.Topology{Namespace: c.topo.Namespace, Name: c.topo.Name, Redis: c.topo.Redis,
		Sentinels: c.topo.Sentinels, Held: true}
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
	time.Sleep(3 * time.Second) // three times ForgetAfter
	require.NotNil(t, p.Report(c.topo.Key()).Master, "forgotten while its syncs went on")

	replica := c.redis[0]
	if replica == master {
		replica = c.redis[1]
	}
	require.NoError(t, c.do(replica, "REPLICAOF", c.topo.Placeholder.Host, fmt.Sprint(c.topo.Placeholder.Port)).Error())
	waitFor(t, 10*time.Second, "healed with the last valid settings", func() error {
		if _, err := c.converged(); err != nil {
			return err
		}
		if r := p.Report(c.topo.Key()); !hasAction(r, "replicaof "+replica.name, "placeholder") {
			return fmt.Errorf("no replicaof %s in the report:\n%s", replica.name, actionLog(r))
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
	c := newCluster(t, "split", clusterOpts{redis: 3, sentinels: 3})
	p := startPool(t)
	p.Track(c.topo)
	master := waitConverged(t, p, c, 15*time.Second)
	c.write(master, "k", 20, 2)

	rogue := c.redis[2]
	require.NotEqual(t, master, rogue)
	require.NoError(t, c.do(rogue, "REPLICAOF", "NO", "ONE").Error())
	c.write(rogue, "lost", 5, 0)
	kept := waitConverged(t, p, c, 10*time.Second)
	assert.Equal(t, master, kept, "the sentinel-agreed master is kept")
	r := p.Report(c.topo.Key())
	assert.True(t, hasAction(r, "replicaof "+rogue.name, "split brain: "+rogue.name+" is also a master (offset"), actionLog(r))
	waitFor(t, 5*time.Second, "rogue resynced", func() error {
		if n := c.dbsize(rogue); n != 20 {
			return fmt.Errorf("%d keys", n)
		}
		return nil
	})
}

func TestIntegrationNoQuorumPromotesHighestOffset(t *testing.T) {
	c := newCluster(t, "noquorum", clusterOpts{redis: 3, sentinels: 3, noStart: true})
	for _, r := range c.redis {
		r.start()
	}
	c.sentinels[0].start() // one sentinel of three: no quorum
	r0, r1, r2 := c.redis[0], c.redis[1], c.redis[2]
	require.NoError(t, c.do(r1, "REPLICAOF", "NO", "ONE").Error())
	require.NoError(t, c.do(r2, "REPLICAOF", r1.ip, "6379").Error())
	waitFor(t, 5*time.Second, "r2 linked", func() error {
		info, err := c.info(r2)
		if err != nil || !info.LinkUp {
			return fmt.Errorf("link down: %v", err)
		}
		return nil
	})
	c.write(r1, "k", 30, 1)
	r1.kill() // r0 is empty (replica of the placeholder), r2 holds the data

	p := startPool(t)
	p.Track(c.topo)
	master := waitConverged(t, p, c, 15*time.Second, r1, c.sentinels[1], c.sentinels[2])
	assert.Equal(t, r2, master, "the highest offset is promoted, not the lowest ordinal")
	r := p.Report(c.topo.Key())
	assert.True(t, hasAction(r, "promote "+r2.name, "no master"), actionLog(r))
	assert.False(t, hasAction(r, "promote "+r0.name, ""), actionLog(r))
	waitFor(t, 5*time.Second, "r0 has the data", func() error {
		if n := c.dbsize(r0); n != 30 {
			return fmt.Errorf("%d keys", n)
		}
		return nil
	})
}

func TestIntegrationSentinelRestartedEmpty(t *testing.T) {
	c := newCluster(t, "sentempty", clusterOpts{redis: 2, sentinels: 3})
	p := startPool(t)
	p.Track(c.topo)
	waitConverged(t, p, c, 15*time.Second)

	s := c.sentinels[1]
	s.kill()
	s.wipe()
	s.conf = c.sentinelConf(s, "", 0) // an emptyDir sentinel.conf without a monitor line
	s.start()
	// The sentinel must be re-monitored by the healer (the report says so), and the whole
	// RedisFailover converged again. The two are checked together: the processes can look
	// converged a moment before the pass that re-monitored the sentinel has reported.
	took := waitFor(t, 10*time.Second, "re-monitored", func() error {
		if _, err := c.converged(); err != nil {
			return err
		}
		if r := p.Report(c.topo.Key()); !hasAction(r, "sentinel monitor "+s.name, "monitors nothing") {
			return fmt.Errorf("no re-monitor of %s in the report:\n%s", s.name, actionLog(r))
		}
		return nil
	})
	t.Logf("sentinel restarted empty: re-monitored after %v", took)
}

func TestIntegrationStaleSentinelEntries(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: Sentinel's 10 s INFO period, twice per sentinel")
	}
	c := newCluster(t, "stale", clusterOpts{redis: 2, sentinels: 3})
	p := startPool(t)
	p.Track(c.topo)
	master := waitConverged(t, p, c, 15*time.Second)

	// A replica outside the topology (a pod that has since changed IP) is discovered by every
	// sentinel, then dies: its entry is stale.
	ghost := c.extra("ghost", 60, master.ip)
	knows := func(s *proc, ip string) bool {
		v, err := c.do(s, "SENTINEL", "REPLICAS", "mymaster").ToAny()
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
	waitFor(t, 25*time.Second, "every sentinel discovered the ghost", func() error {
		for _, s := range c.sentinels {
			if !knows(s, ghost.ip) {
				return fmt.Errorf("%s does not know %s", s.name, ghost.ip)
			}
		}
		return nil
	})
	r := p.Report(c.topo.Key())
	assert.False(t, hasAction(r, "sentinel reset", ""), "no reset while the ghost is connected:\n%s", actionLog(r))
	ghost.kill()
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range c.sentinels {
				a, _ := c.do(s, "SENTINEL", "SENTINELS", "mymaster").ToAny()
				b, _ := c.do(s, "SENTINEL", "REPLICAS", "mymaster").ToAny()
				t.Logf("%s sentinels %v\nreplicas %v", s.name, a, b)
			}
		}
	})
	// Sentinel rediscovers replicas from the master's INFO, every 10 s: a reset sentinel is
	// complete again after up to 10 s, and only then is the next one reset.
	took := waitFor(t, 45*time.Second, "stale entries gone", func() error {
		for _, s := range c.sentinels {
			if knows(s, ghost.ip) {
				return fmt.Errorf("%s still knows %s", s.name, ghost.ip)
			}
		}
		return nil
	})
	t.Logf("stale sentinel entries reset after %v", took)
	waitConverged(t, p, c, 5*time.Second)
	time.Sleep(time.Second) // several more passes: no further reset
	r = p.Report(c.topo.Key())
	resets := 0
	for _, a := range r.LastActions {
		if strings.HasPrefix(a.Action, "sentinel reset") {
			resets++
			assert.Contains(t, a.Reason, "stale: replica "+ghost.ip+":6379")
		}
	}
	assert.Equal(t, 3, resets, "one reset per sentinel:\n%s", actionLog(r))
}

func TestIntegrationConfigDrift(t *testing.T) {
	c := newCluster(t, "config", clusterOpts{redis: 2, sentinels: 3})
	c.topo.RedisConfig = []hooks.ConfigEntry{{Key: "maxmemory", Value: "100mb"},
		{Key: "maxmemory-policy", Value: "allkeys-lru"}}
	p := startPool(t)
	p.Track(c.topo)
	waitConverged(t, p, c, 15*time.Second)
	get := func(n *proc, key string) string {
		v, err := c.do(n, "CONFIG", "GET", key).ToAny()
		require.NoError(t, err)
		kv, err := decision.ParseConfigGet(v)
		require.NoError(t, err)
		return kv[key]
	}
	waitFor(t, 5*time.Second, "config applied", func() error {
		for _, n := range c.redis {
			if get(n, "maxmemory") != "104857600" || get(n, "maxmemory-policy") != "allkeys-lru" {
				return fmt.Errorf("%s not configured", n.name)
			}
		}
		return nil
	})
	time.Sleep(time.Second) // several passes
	sets := p.metric(t, "redhook_healer_actions_total", "action", "config-set")
	sentinelSets := p.metric(t, "redhook_healer_actions_total", "action", "sentinel-set")
	assert.Equal(t, 4.0, sets, "one CONFIG SET per key and node, none when equal")

	require.NoError(t, c.do(c.redis[1], "CONFIG", "SET", "maxmemory-policy", "noeviction").Error())
	require.NoError(t, c.do(c.sentinels[0], "SENTINEL", "SET", "mymaster", "down-after-milliseconds", "4000").Error())
	waitFor(t, 5*time.Second, "drift healed", func() error {
		if got := get(c.redis[1], "maxmemory-policy"); got != "allkeys-lru" {
			return fmt.Errorf("maxmemory-policy %s", got)
		}
		v, err := c.do(c.sentinels[0], "SENTINEL", "MASTER", "mymaster").ToAny()
		require.NoError(t, err)
		m, err := decision.ParseSentinelMaster(v)
		require.NoError(t, err)
		if m.Fields["down-after-milliseconds"] != "1000" {
			return fmt.Errorf("down-after %s", m.Fields["down-after-milliseconds"])
		}
		return nil
	})
	time.Sleep(time.Second)
	assert.Equal(t, sets+1, p.metric(t, "redhook_healer_actions_total", "action", "config-set"))
	assert.Equal(t, sentinelSets+1, p.metric(t, "redhook_healer_actions_total", "action", "sentinel-set"))
}

func TestIntegrationBootstrapMode(t *testing.T) {
	c := newCluster(t, "boot", clusterOpts{redis: 2, sentinels: 3})
	ext := c.extra("external", 70, "")
	c.write(ext, "ext", 10, 0)
	c.topo.Bootstrap = &hooks.Endpoint{Host: ext.ip, Port: 6379}
	p := startPool(t)
	p.Track(c.topo)
	waitFor(t, 15*time.Second, "following the external node", func() error {
		for _, n := range c.redis {
			info, err := c.info(n)
			if err != nil {
				return err
			}
			if info.Role != hooks.RoleReplica || info.MasterHost != ext.ip || !info.LinkUp {
				return fmt.Errorf("%s: %s of %s link %v", n.name, info.Role, info.MasterHost, info.LinkUp)
			}
			if got := c.dbsize(n); got != 10 {
				return fmt.Errorf("%s has %d keys", n.name, got)
			}
			v, err := c.do(n, "CONFIG", "GET", "replica-priority").ToAny()
			if err != nil {
				return err
			}
			if kv, _ := decision.ParseConfigGet(v); kv["replica-priority"] != "0" {
				return fmt.Errorf("%s replica-priority %s", n.name, kv["replica-priority"])
			}
		}
		for _, s := range c.sentinels {
			if got, err := c.sentinelMaster(s); err != nil || got != ext.ip {
				return fmt.Errorf("%s monitors %q: %v", s.name, got, err)
			}
		}
		return nil
	})
	assert.Nil(t, p.Report(c.topo.Key()).Master, "the master is outside the RedisFailover")
}
