package healer

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// Benchmarks against real processes. They report numbers and never fail on time:
//
//	go test -run '^$' -bench . -benchtime 200x ./healer/

// BenchmarkHealPassHealthy is one heal pass (observe every pod, Plan, apply nothing, report) on
// a converged 3 + 3 RedisFailover.
func BenchmarkHealPassHealthy(b *testing.B) {
	c := benchCluster(b, "passbench", 3, 3)
	conv := startBenchPool(b)
	conv.Track(topology(c))
	waitConverged(b, conv, c, 60*time.Second)

	p, err := NewPool(Config{}, zerolog.Nop()) // not running: passes are called directly
	require.NoError(b, err)
	p.Track(topology(c))
	e := p.entries[reportKey(c)]
	defer e.conns.closeAll()
	ctx := context.Background()
	p.pass(ctx, e) // dial every connection once
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.pass(ctx, e)
	}
	b.StopTimer()
	r := p.Report(reportKey(c))
	require.NotNil(b, r.Master)
	require.Empty(b, r.Errors)
	require.Empty(b, r.LastActions, "a healthy pass writes nothing")
}

// BenchmarkConvergeTwentyCold is the time for one pool to bring 20 fresh RedisFailovers
// (2 redis + 3 sentinels each, every redis a replica of the placeholder, every sentinel
// monitoring 127.0.0.1) to one master each with replicas linked and sentinels agreeing.
func BenchmarkConvergeTwentyCold(b *testing.B) {
	const n = 20
	var clusters []*redistest.Cluster
	for i := 0; i < n; i++ {
		clusters = append(clusters, benchCluster(b, fmt.Sprintf("cold%02d", i), 2, 3))
	}
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		if i > 0 {
			b.StopTimer()
			for _, c := range clusters { // cold: every process killed, wiped, started with its first config
				for _, p := range append(append([]*redistest.Proc{}, c.Redis...), c.Sentinels...) {
					p.Kill()
					p.Wipe()
				}
				c.StartAll()
			}
			b.StartTimer()
		}
		p := startBenchPool(b)
		start := time.Now()
		for _, c := range clusters {
			p.Track(topology(c))
		}
		for _, c := range clusters {
			waitConverged(b, p, c, 60*time.Second)
		}
		total += time.Since(start)
		b.StopTimer()
		p.stop()
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/converge-20")
}

// benchCluster is a started cluster of fresh processes.
func benchCluster(b *testing.B, name string, redis, sentinels int) *redistest.Cluster {
	b.Helper()
	return redistest.NewCluster(b, name, redistest.Options{Redis: redis, Sentinels: sentinels})
}

type benchPool struct {
	*Pool
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func startBenchPool(b *testing.B) *benchPool {
	b.Helper()
	p, err := NewPool(Config{Workers: 8, Interval: 300 * time.Millisecond, FastInterval: 100 * time.Millisecond,
		DialTimeout: 300 * time.Millisecond, CommandTimeout: time.Second, MinBackoff: 100 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond, ForgetAfter: time.Minute}, zerolog.Nop())
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	bp := &benchPool{Pool: p, cancel: cancel, done: make(chan error, 1)}
	go func() { bp.done <- p.Run(ctx) }()
	b.Cleanup(bp.stop)
	return bp
}

func (p *benchPool) stop() {
	p.once.Do(func() {
		p.cancel()
		<-p.done
	})
}

// BenchmarkPassUnreachable is one heal pass of a 3 + 3 RedisFailover whose pods do not answer
// (nothing listens on their loopback addresses): what an idle, unreachable RedisFailover costs
// per pass.
func BenchmarkPassUnreachable(b *testing.B) {
	p, err := NewPool(Config{}, zerolog.Nop()) // not running: passes are called directly
	require.NoError(b, err)
	tp := silentTopology("bench", 3, 3)
	p.Track(tp)
	e := p.entries[tp.Key()]
	defer e.conns.closeAll()
	// Passes of an idle RedisFailover are seconds apart: each one dials again.
	e.conns.failFor = 0
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p.pass(ctx, e)
	}
	require.NotEmpty(b, p.Report(tp.Key()).Errors)
}

// BenchmarkHealthyRedisFailovers is the steady cost of healthy RedisFailovers: $REDHOOK_BENCH_RFS
// (default 20) converged 2 + 1 RedisFailovers in one pool with the default intervals (a pass
// every 10 s, the master watcher's ROLE every 200 ms), measured over b.N seconds:
//
//	REDHOOK_BENCH_RFS=100 go test -run '^$' -bench HealthyRedisFailovers -benchtime 30x ./healer/
//
// It reports the CPU the pool spends per RedisFailover (as a percentage of one core: its passes,
// master watcher and subscriptions; this process' CPU over an equal window before the pool ran
// is subtracted), the passes per second and the pool's TCP connections per RedisFailover.
func BenchmarkHealthyRedisFailovers(b *testing.B) {
	n := 20
	if v, err := strconv.Atoi(os.Getenv("REDHOOK_BENCH_RFS")); err == nil && v > 0 {
		n = v
	}
	var clusters []*redistest.Cluster
	for i := range n {
		clusters = append(clusters, benchCluster(b, fmt.Sprintf("healthy%03d", i), 2, 1))
	}
	// The baseline, before the pool runs: this process' own sockets (the harness' clients, opened
	// here) and its CPU over a window as long as the measured one.
	for _, c := range clusters {
		for _, proc := range append(append([]*redistest.Proc{}, c.Redis...), c.Sentinels...) {
			require.NoError(b, proc.Do("PING").Error())
		}
	}
	sockets0, heap0 := openSockets(b), heapInUse()
	window := time.Duration(b.N) * time.Second
	idle0 := processCPU(b)
	time.Sleep(window)
	idleCPU := processCPU(b) - idle0
	reg := prometheus.NewRegistry()
	p, err := NewPool(Config{Registerer: reg}, zerolog.Nop())
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for _, c := range clusters {
		p.Track(topology(c))
	}
	for _, c := range clusters {
		waitConverged(b, p, c, 120*time.Second)
	}
	time.Sleep(10 * time.Second) // one Interval: every RedisFailover back to its healthy pace
	passes0, cpu0, start := counterSum(b, reg, "redhook_healer_passes_total"), processCPU(b), time.Now()
	for b.Loop() {
		time.Sleep(time.Second)
	}
	b.StopTimer()
	secs := time.Since(start).Seconds()
	passes := counterSum(b, reg, "redhook_healer_passes_total") - passes0
	cpu := (processCPU(b) - cpu0 - idleCPU).Seconds() // the pool's: passes, watcher, subscriptions
	b.ReportMetric(100*cpu/secs/float64(n), "%cpu/RF")
	b.ReportMetric(passes/secs, "passes/s")
	b.ReportMetric(float64(openSockets(b)-sockets0)/float64(n), "conns/RF")
	b.ReportMetric(float64(heapInUse()-heap0)/float64(n)/1024, "heap-KiB/RF")
	b.ReportMetric(0, "ns/op")
}

// counterSum is the sum of a counter family over its labels.
func counterSum(b *testing.B, reg *prometheus.Registry, name string) float64 {
	families, err := reg.Gather()
	require.NoError(b, err)
	sum := 0.0
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// processCPU is the user + system CPU time of this process so far (the redis processes are
// others).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openSockets counts this process' open sockets (Linux): the pool's connections, as the test
// process listens on nothing.
func openSockets(b *testing.B) int {
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(b, err)
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, "socket:") {
			n++
		}
	}
	return n
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
