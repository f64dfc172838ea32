package healer

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Sentinel-less mode (rule 16) on real processes: three redis-server, no sentinel, the healer
// failing over by itself. Partitions are iptables DROP rules on the loopback interface between
// the test's own addresses (root only; removed at cleanup). The healer connects from 127.0.0.1;
// the test's writers and probes from an address of the cluster's subnet (sourceHost), so that
// cutting the healer off a node leaves the test's view alone. In every test: no write confirmed
// by WAIT 1 is lost, and no two nodes accepted writes at overlapping times (a writer on every
// node, on both sides of any partition).

const (
	sentinellessTimeout = hooks.DefaultDetectionTimeout
	sourceHost          = 250 // 127.0.<subnet>.250: the test's clients
)

func sentinellessTopology(c *redistest.Cluster) hooks.Topology {
	tp := topology(c)
	tp.SentinelsEnabled, tp.Sentinelless, tp.DetectionTimeout = false, true, sentinellessTimeout
	tp.Sentinels, tp.SentinelConfig, tp.SentinelReplicas, tp.Quorum = nil, nil, 0, 0
	tp.ModeConfig = hooks.SentinellessConfig(sentinellessTimeout)
	return tp
}

// sentinellessCluster is a converged 3-redis cluster driven by p in sentinel-less mode, with
// the fencing applied, and a writer on every node.
type sentinellessCluster struct {
	c       *redistest.Cluster
	master  *redistest.Proc
	writers map[*redistest.Proc]*redistest.Writer
	stops   []func()
	cuts    []iptablesRule
	probes  map[*redistest.Proc]rueidis.Client
	// healAtEnd: a cleanup removes the rules left at the test's end.
	healAtEnd bool
}

func newSentinelless(t *testing.T, name string, p reporter) *sentinellessCluster {
	t.Helper()
	c := redistest.NewCluster(t, name, redistest.Options{Redis: 3})
	if tp, ok := p.(interface{ Track(hooks.Topology) }); ok {
		tp.Track(sentinellessTopology(c))
	}
	s := &sentinellessCluster{c: c, writers: map[*redistest.Proc]*redistest.Writer{},
		probes: map[*redistest.Proc]rueidis.Client{}}
	s.master = waitConverged(t, p, c, 20*time.Second)
	redistest.WaitFor(t, 10*time.Second, "fencing applied on every node", func() error {
		for _, r := range c.Redis {
			v, err := s.probe(t, r).Do(context.Background(), s.probe(t, r).B().ConfigGet().Parameter("min-replicas-to-write").Build()).AsStrMap()
			if err != nil || v["min-replicas-to-write"] != "1" {
				return fmt.Errorf("%s: min-replicas-to-write %q (%v)", r.Name, v["min-replicas-to-write"], err)
			}
		}
		return nil
	})
	for _, r := range c.Redis {
		w, stop := startWriter(t, s.client(t, r), redistest.WriterConfig{Prefix: r.Name + ":",
			Wait: 300 * time.Millisecond, Timeout: time.Second, Pause: 10 * time.Millisecond})
		s.writers[r], s.stops = w, append(s.stops, stop)
	}
	// Confirmed writes on the master before anything happens.
	redistest.WaitFor(t, 10*time.Second, "writes confirmed on the master", func() error {
		if n := s.writers[s.master].Counts().Confirmed; n < 20 {
			return fmt.Errorf("%d confirmed", n)
		}
		return nil
	})
	return s
}

// client is a plain client of r from the test's own source address.
func (s *sentinellessCluster) client(t *testing.T, r *redistest.Proc) rueidis.Client {
	t.Helper()
	src := &net.TCPAddr{IP: net.ParseIP(s.c.IP(sourceHost))}
	cl, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.Addr()}, Password: r.Password,
		DisableCache: true, ForceSingleClient: true, ClientSetInfo: rueidis.DisableClientSetInfo,
		Dialer:           net.Dialer{Timeout: 300 * time.Millisecond, LocalAddr: src},
		ConnWriteTimeout: time.Second, DisableRetry: true})
	require.NoError(t, err)
	return cl
}

// probe is a client of r from the test's source address, closed at the test's end.
func (s *sentinellessCluster) probe(t *testing.T, r *redistest.Proc) rueidis.Client {
	t.Helper()
	if cl, ok := s.probes[r]; ok {
		return cl
	}
	cl := s.client(t, r)
	s.probes[r] = cl
	t.Cleanup(cl.Close)
	return cl
}

// info reads r's INFO through the test's source address.
func (s *sentinellessCluster) info(t *testing.T, r *redistest.Proc) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cl := s.probe(t, r)
	return cl.Do(ctx, cl.B().Info().Section("server", "replication", "keyspace").Build()).ToString()
}

// finish stops the writers, then checks that nothing confirmed is lost on master and that no
// two nodes accepted writes at overlapping times.
func (s *sentinellessCluster) finish(t *testing.T, master *redistest.Proc) {
	t.Helper()
	for _, stop := range s.stops {
		stop()
	}
	var lost []string
	total := 0
	for r, w := range s.writers {
		total += w.Counts().Confirmed
		loss, err := w.Verify(context.Background(), s.probe(t, master))
		assert.Empty(t, firstKeys(loss.Confirmed), "confirmed writes on %s missing on %s (read errors: %v)", r.Name, master.Name, err)
		lost = append(lost, loss.Confirmed...)
	}
	t.Logf("%d writes confirmed by WAIT 1 in all, %d lost", total, len(lost))
	assert.Empty(t, overlaps(s.writers), "two nodes accepted writes at the same time")
}

// overlaps lists the times two nodes certainly accepted writes at once. A run of consecutive
// acknowledged writes on one node, from the reply to its first to the sending of its last, is a
// span in which that node certainly accepted writes; two spans of different nodes that overlap
// are two writable masters at once.
func overlaps(writers map[*redistest.Proc]*redistest.Writer) []string {
	type span struct {
		name     string
		from, to time.Time
	}
	var spans []span
	for r, w := range writers {
		cur := -1 // the index of the run in progress in spans
		for _, x := range w.Writes() {
			if x.Result == redistest.Failed {
				cur = -1
				continue
			}
			if cur < 0 {
				spans = append(spans, span{name: r.Name, from: x.Replied})
				cur = len(spans) - 1
			}
			spans[cur].to = x.Sent
		}
	}
	var out []string
	for i := range spans {
		for j := i + 1; j < len(spans); j++ {
			a, b := spans[i], spans[j]
			if a.name != b.name && a.from.Before(b.to) && b.from.Before(a.to) {
				out = append(out, fmt.Sprintf("%s accepted writes from %s to %s, %s from %s to %s", a.name,
					a.from.Format("15:04:05.000"), a.to.Format("15:04:05.000"), b.name, b.from.Format("15:04:05.000"),
					b.to.Format("15:04:05.000")))
			}
		}
	}
	return out
}

// iptablesRule is one DROP rule on INPUT, from src to dst.
type iptablesRule struct{ src, dst string }

func (r iptablesRule) args(op string) []string {
	return []string{op, "INPUT", "-s", r.src, "-d", r.dst, "-m", "comment", "--comment", "redhook-test", "-j", "DROP"}
}

// requirePartitions skips the test unless iptables can drop loopback packets here (root).
func requirePartitions(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("partition test: not with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("partition test: iptables rules on lo need root")
	}
	if err := exec.Command("iptables", "-S", "INPUT").Run(); err != nil {
		t.Skipf("partition test: iptables does not work here: %v", err)
	}
}

// cut drops every packet between a and b, both ways, until heal or the test's end.
func (s *sentinellessCluster) cut(t *testing.T, a, b string) {
	t.Helper()
	for _, r := range []iptablesRule{{a, b}, {b, a}} {
		out, err := exec.Command("iptables", r.args("-I")...).CombinedOutput()
		require.NoError(t, err, "iptables: %s", out)
		s.cuts = append(s.cuts, r)
	}
	if !s.healAtEnd {
		s.healAtEnd = true
		t.Cleanup(func() { s.heal(t) })
	}
}

// heal removes every rule cut added.
func (s *sentinellessCluster) heal(t *testing.T) {
	for _, r := range s.cuts {
		if out, err := exec.Command("iptables", r.args("-D")...).CombinedOutput(); err != nil {
			t.Errorf("iptables -D: %v: %s", err, out)
		}
	}
	s.cuts = nil
}

// others are the nodes but r.
func (s *sentinellessCluster) others(r *redistest.Proc) []*redistest.Proc {
	var out []*redistest.Proc
	for _, p := range s.c.Redis {
		if p != r {
			out = append(out, p)
		}
	}
	return out
}

const healerSource = "127.0.0.1" // where the healer's connections come from

func TestIntegrationSentinellessMasterKilled(t *testing.T) {
	p := startPool(t)
	s := newSentinelless(t, "slkill", p)
	old := s.master
	killed := time.Now()
	old.Kill()
	master, took := waitNewMaster(t, p, s.c, old, 30*time.Second, old)
	t.Logf("master %s killed: %s promoted and reported %v later", old.Name, master.Name, took)
	r := p.Report(reportKey(s.c))
	assert.True(t, hasAction(r, "promote "+master.Name, "refusing connections"), actionLog(r))
	if w, ok := s.writers[master].FirstSuccessAfter(killed); ok {
		t.Logf("first write accepted by the new master %v after the kill", w.Replied.Sub(killed))
	}
	old.Start() // comes back empty, as a replica of the placeholder: re-pointed
	waitConverged(t, p, s.c, 30*time.Second)
	s.finish(t, master)
}

func TestIntegrationSentinellessMasterRestartedEmpty(t *testing.T) {
	p := startPool(t)
	s := newSentinelless(t, "slempty", p)
	old := s.master
	old.Kill()
	old.Wipe()
	old.Start()
	master, took := waitNewMaster(t, p, s.c, old, 30*time.Second)
	t.Logf("master %s restarted empty: %s promoted %v later", old.Name, master.Name, took)
	r := p.Report(reportKey(s.c))
	assert.True(t, hasAction(r, "promote "+master.Name, ""), actionLog(r))
	assert.Positive(t, dbsize(master), "the node with the data is promoted")
	s.finish(t, master)
}

func TestIntegrationSentinellessCutOffFromHealerOnly(t *testing.T) {
	requirePartitions(t)
	p := startPool(t)
	s := newSentinelless(t, "slredhook", p)
	old := s.master
	promotes := p.metric(t, "redhook_healer_actions_total", "action", "promote")
	require.Positive(t, promotes, "the first master was promoted by the healer")
	s.cut(t, healerSource, old.IP)
	cutAt := time.Now()
	// Longer than the detection timeout plus the replicas' repl-timeout, and many passes.
	from := p.passes(t)
	redistest.WaitFor(t, 30*time.Second, "the detection time passed", func() error {
		if since := time.Since(cutAt); since < 3*sentinellessTimeout*time.Second {
			return fmt.Errorf("%v since the cut", since)
		}
		return nil
	})
	p.waitPasses(t, from, 5)
	r := p.Report(reportKey(s.c))
	assert.Equal(t, promotes, p.metric(t, "redhook_healer_actions_total", "action", "promote"), "no failover: %s", actionLog(r))
	assert.True(t, hasAction(r, "wait", "only the healer lost it"), actionLog(r))
	require.NotNil(t, r.Master, "the master Service keeps the master")
	assert.Equal(t, old.IP, r.Master.IP)
	for _, rep := range s.others(old) {
		text, err := s.info(t, rep)
		require.NoError(t, err)
		assert.Contains(t, text, "master_host:"+old.IP, rep.Name)
		assert.Contains(t, text, "master_link_status:up", rep.Name)
	}
	n := s.writers[old].Counts().Confirmed
	redistest.WaitFor(t, 10*time.Second, "writes still confirmed on the master", func() error {
		if got := s.writers[old].Counts().Confirmed; got <= n {
			return fmt.Errorf("%d confirmed, %d at the check", got, n)
		}
		return nil
	})
	s.heal(t)
	waitConverged(t, p, s.c, 20*time.Second)
	s.finish(t, old)
}

func TestIntegrationSentinellessCutOffFromReplicas(t *testing.T) {
	requirePartitions(t)
	p := startPool(t)
	s := newSentinelless(t, "slreplicas", p)
	old := s.master
	cutAt := time.Now()
	for _, r := range s.others(old) {
		s.cut(t, old.IP, r.IP)
	}
	redistest.WaitFor(t, 30*time.Second, "the cut-off master refuses writes (NOREPLICAS)", func() error {
		errs := s.writers[old].Errors(cutAt)
		for e := range errs {
			if strings.Contains(e, "NOREPLICAS") {
				return nil
			}
		}
		return fmt.Errorf("no NOREPLICAS yet: %v", errs)
	})
	master := waitPromoted(t, s, old, 30*time.Second)
	t.Logf("%s cut off from its replicas: %s promoted %v after the cut", old.Name, master.Name, time.Since(cutAt))
	r := p.Report(reportKey(s.c))
	assert.True(t, hasAction(r, "promote "+master.Name, "cut off from its replicas"), actionLog(r))
	s.heal(t)
	assert.Equal(t, master, waitConverged(t, p, s.c, 30*time.Second))
	s.finish(t, master)
}

func TestIntegrationSentinellessCutOffFromEverything(t *testing.T) {
	requirePartitions(t)
	p := startPool(t)
	s := newSentinelless(t, "slall", p)
	old := s.master
	cutAt := time.Now()
	s.cut(t, healerSource, old.IP)
	for _, r := range s.others(old) {
		s.cut(t, old.IP, r.IP)
	}
	master := waitPromoted(t, s, old, 30*time.Second)
	t.Logf("%s cut off from everything: %s promoted %v after the cut", old.Name, master.Name, time.Since(cutAt))
	r := p.Report(reportKey(s.c))
	assert.True(t, hasAction(r, "promote "+master.Name, "every other pod has lost its link"), actionLog(r))
	text, err := s.info(t, old)
	require.NoError(t, err)
	assert.Contains(t, text, "role:master", "still a master on its side of the partition, fenced")
	s.heal(t)
	assert.Equal(t, master, waitConverged(t, p, s.c, 30*time.Second), "the old master is demoted (rule 5)")
	s.finish(t, master)
}

// TestIntegrationSentinellessHealerRestarted: the healer stops while it waits for the detection
// time of a master cut off from everything, and a new one, with no memory of the first, takes
// over: it reads the time from the replicas and completes the failover.
func TestIntegrationSentinellessHealerRestarted(t *testing.T) {
	requirePartitions(t)
	first, stopFirst := runPool(t)
	s := newSentinelless(t, "slrestart", first)
	old := s.master
	s.cut(t, healerSource, old.IP)
	for _, r := range s.others(old) {
		s.cut(t, old.IP, r.IP)
	}
	redistest.WaitFor(t, 20*time.Second, "the first healer waits for the detection time", func() error {
		if r := first.Report(reportKey(s.c)); !hasAction(r, "wait", "failing over at") {
			return fmt.Errorf("not yet waiting: %s", actionLog(r))
		}
		return nil
	})
	stopFirst()
	second, _ := runPool(t)
	second.Track(sentinellessTopology(s.c))
	master := waitPromoted(t, s, old, 30*time.Second)
	r := second.Report(reportKey(s.c))
	assert.True(t, hasAction(r, "promote "+master.Name, ""), actionLog(r))
	s.heal(t)
	assert.Equal(t, master, waitConverged(t, second, s.c, 30*time.Second))
	s.finish(t, master)
}

// waitPromoted waits until a node other than old is master with every other node but old
// replicating it, read from the test's side.
func waitPromoted(t *testing.T, s *sentinellessCluster, old *redistest.Proc, limit time.Duration) *redistest.Proc {
	t.Helper()
	var master *redistest.Proc
	redistest.WaitFor(t, limit, "a new master", func() error {
		master = nil
		for _, r := range s.others(old) {
			text, err := s.info(t, r)
			if err != nil {
				return err
			}
			if strings.Contains(text, "role:master") {
				master = r
			}
		}
		if master == nil {
			return fmt.Errorf("no master but %s", old.Name)
		}
		for _, r := range s.others(old) {
			text, _ := s.info(t, r)
			if r != master && !strings.Contains(text, "master_host:"+master.IP) {
				return fmt.Errorf("%s does not replicate %s", r.Name, master.Name)
			}
		}
		return nil
	})
	return master
}

// runPool runs a pool like startPool's, which the test can stop before its end.
func runPool(t *testing.T) (*testPool, func()) {
	t.Helper()
	cfg := testConfig()
	reg := prometheus.NewRegistry()
	logs := redistest.CaptureLog(t, "healer")
	cfg.Registerer = reg
	p, err := NewPool(cfg, zerolog.New(logs).With().Timestamp().Logger())
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("pool did not stop within 10 s")
		}
	}
	t.Cleanup(stop)
	return &testPool{Pool: p, reg: reg, logs: logs}, stop
}

// TestIntegrationSentinellessChaos kills and restarts (empty) the master or a replica, or cuts
// the master off from everything for a while, at random, on a 3-redis sentinel-less
// RedisFailover, with a writer on every node. After every round: converged, and no write
// confirmed by WAIT 1 missing; at the end, no two nodes accepted writes at once. 1 minute
// (REDHOOK_CHAOS=DURATION changes it); -short skips it; partitions only as root.
func TestIntegrationSentinellessChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: not with -short")
	}
	dur := time.Minute
	if v := os.Getenv("REDHOOK_CHAOS"); v != "" {
		var err error
		dur, err = time.ParseDuration(v)
		require.NoError(t, err, "REDHOOK_CHAOS")
	}
	partitions := os.Geteuid() == 0 && exec.Command("iptables", "-S", "INPUT").Run() == nil
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	t.Logf("sentinel-less chaos for %v, seed %d, partitions %v", dur, seed, partitions)
	p := startPool(t)
	s := newSentinelless(t, "slchaos", p)
	master := s.master
	counts := map[string]int{}
	var rounds, changes int
	for deadline := time.Now().Add(dur); time.Now().Before(deadline); {
		rounds++
		p.Track(sentinellessTopology(s.c)) // what Metacontroller's syncs do; the pool forgets an untracked RedisFailover
		k := rng.IntN(10)
		pause := 300*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond)))
		switch {
		case k < 3 && partitions:
			counts["partition"]++
			s.cut(t, healerSource, master.IP)
			for _, r := range s.others(master) {
				s.cut(t, master.IP, r.IP)
			}
			time.Sleep(pause + time.Duration(rng.Int64N(int64(8*time.Second))))
			s.heal(t)
		default:
			victim, kind := master, "master"
			if k >= 7 {
				kind = "replica"
				victim = s.others(master)[rng.IntN(2)]
			}
			counts[kind]++
			victim.Kill()
			time.Sleep(pause)
			victim.Start() // empty: no persistence, as an emptyDir after a restart
		}
		m := waitConverged(t, p, s.c, 60*time.Second)
		if m != master {
			changes++
			master = m
		}
		for r, w := range s.writers {
			loss, err := w.Verify(context.Background(), s.probe(t, master))
			if !assert.Empty(t, firstKeys(loss.Confirmed), "round %d: confirmed writes on %s missing on %s (read errors: %v)",
				rounds, r.Name, master.Name, err) {
				return
			}
		}
		time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
	}
	t.Logf("chaos: %d rounds; master kills %d, replica kills %d, partitions %d; master changes %d",
		rounds, counts["master"], counts["replica"], counts["partition"], changes)
	s.finish(t, master)
}

// TestIntegrationSentinelModeSwitch: a running RedisFailover goes from Sentinel mode to
// sentinel-less mode and back, as spec.sentinel.enabled flips: the sentinels go away (their
// Deployment is deleted), then come back as new pods with an empty sentinel.conf. Throughout, a
// writer on the master: the master never changes, no write fails, none confirmed is lost, the
// fencing is applied in sentinel-less mode and Redis' defaults are back in Sentinel mode.
func TestIntegrationSentinelModeSwitch(t *testing.T) {
	c := redistest.NewCluster(t, "modes", redistest.Options{Redis: 3, Sentinels: 3})
	p := startPool(t)
	p.Track(topology(c))
	master := waitConverged(t, p, c, 15*time.Second)
	client, err := redistest.NewClient(master.Addr(), master.Password) // closed by stop
	require.NoError(t, err)
	w, stop := startWriter(t, client, redistest.WriterConfig{Prefix: "modes:", Wait: 300 * time.Millisecond,
		Timeout: time.Second, Pause: 10 * time.Millisecond})
	promotes := func() float64 {
		return max(0, p.metric(t, "redhook_healer_actions_total", "action", "promote")) +
			max(0, p.metric(t, "redhook_healer_actions_total", "action", "sentinel-failover"))
	}
	before := promotes()
	fencing := func(want string) func() error {
		return func() error {
			for _, r := range c.Redis {
				if got := configGet(t, r, "min-replicas-to-write"); got != want {
					return fmt.Errorf("%s: min-replicas-to-write %s", r.Name, got)
				}
			}
			return nil
		}
	}
	confirmed := func(phase string) {
		n := w.Counts().Confirmed
		redistest.WaitFor(t, 10*time.Second, "writes confirmed "+phase, func() error {
			if got := w.Counts().Confirmed; got < n+200 { // a few seconds: many heal passes in each mode
				return fmt.Errorf("%d confirmed, %d before", got, n)
			}
			return nil
		})
	}
	confirmed("in Sentinel mode")

	for _, s := range c.Sentinels {
		s.Kill()
	}
	p.Track(sentinellessTopology(c))
	took := redistest.WaitFor(t, 15*time.Second, "fencing applied", fencing("1"))
	assert.Equal(t, master, waitConverged(t, p, c, 15*time.Second, c.Sentinels...), "the master stays")
	t.Logf("to sentinel-less mode: fencing applied %v after the switch", took)
	confirmed("in sentinel-less mode")

	for _, s := range c.Sentinels {
		s.Wipe()
		s.Conf = c.SentinelConf(s, "", 0) // new pods: an emptyDir sentinel.conf without a monitor line
		s.Start()
	}
	p.Track(topology(c))
	took = redistest.WaitFor(t, 20*time.Second, "sentinels monitor the master, fencing lifted", func() error {
		if _, err := converged(c); err != nil {
			return err
		}
		return fencing("0")()
	})
	assert.Equal(t, master, waitConverged(t, p, c, 15*time.Second), "the master stays")
	t.Logf("back to Sentinel mode: sentinels monitoring and fencing lifted %v after the switch", took)
	confirmed("in Sentinel mode again")

	stop()
	assert.Equal(t, before, promotes(), "no failover: %s", actionLog(p.Report(reportKey(c))))
	n := w.Counts()
	assert.Zero(t, n.Failed, "no write failed: %v", w.Errors(time.Time{}))
	reader, err := master.Client()
	require.NoError(t, err)
	loss, err := w.Verify(context.Background(), reader)
	assert.Empty(t, firstKeys(loss.Confirmed), "confirmed writes missing (read errors: %v)", err)
	t.Logf("writes: %d confirmed, %d unconfirmed, %d failed", n.Confirmed, n.Unconfirmed, n.Failed)
}
