package healer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

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
