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
	reg := prometheus.NewRegistry()
	logs := &syncBuffer{}
	p, err := NewPool(Config{Workers: 4, Interval: 300 * time.Millisecond, FastInterval: 100 * time.Millisecond,
		DialTimeout: 300 * time.Millisecond, CommandTimeout: time.Second, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, ForgetAfter: time.Minute, Registerer: reg, History: 50},
		zerolog.New(logs))
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

// metric reads one gauge or counter from the pool's registry: the series of name whose label
// has value. -1 when absent.
func (p *testPool) metric(t *testing.T, name, label, value string) float64 {
	t.Helper()
	families, err := p.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
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

func actionLog(r hooks.Observation) string {
	var b strings.Builder
	for _, a := range r.LastActions {
		fmt.Fprintf(&b, "%s: %s\n", a.Action, a.Reason)
	}
	return b.String()
}

func hasAction(r hooks.Observation, prefix, reason string) bool {
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
