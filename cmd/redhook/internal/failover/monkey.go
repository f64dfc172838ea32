// Package failover provides the load tools of a local RedisFailover: a chaos monkey that kills
// random processes while a writer checks that no confirmed write is lost (`redhook local
// --chaos`), and a benchmark of unplanned master loss (`redhook bench-failover`, see
// docs/architecture.md, "Performance targets").
package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/redhook/redhook/cmd/redhook/internal/local"
	"github.com/redhook/redhook/healer/redistest"
)

// MonkeyConfig is how long a Monkey runs and how often it kills.
type MonkeyConfig struct {
	Duration time.Duration // 0: no chaos
	Every    time.Duration // mean time between two kills
}

// Validate reports every problem of the configuration.
func (c MonkeyConfig) Validate() error {
	var errs []error
	if c.Duration < 0 {
		errs = append(errs, fmt.Errorf("--chaos %s: must not be negative", c.Duration))
	}
	if c.Every <= 0 {
		errs = append(errs, fmt.Errorf("--chaos-every %s: must be positive", c.Every))
	}
	return errors.Join(errs...)
}

// Monkey kills random processes of a local RedisFailover while a writer issues SET + WAIT 1
// through Sentinel, then reports kills, failovers, recovery times and lost writes.
type Monkey struct {
	c   *local.Cluster
	cfg MonkeyConfig
	out io.Writer

	mu        sync.Mutex
	kills     map[string]int
	recovery  []time.Duration
	failovers int
	writes    redistest.Counts
	lost      []string // confirmed writes that are gone
}

// NewMonkey returns a monkey for c that prints to out.
func NewMonkey(c *local.Cluster, cfg MonkeyConfig, out io.Writer) *Monkey {
	return &Monkey{c: c, cfg: cfg, out: out, kills: map[string]int{}}
}

// Run waits for the RedisFailover to be ready, kills for the configured duration, waits for it
// to recover, reads every confirmed write back and prints a summary. It returns early when ctx
// ends.
func (m *Monkey) Run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Duration+2*time.Minute)
	defer cancel()
	if !m.c.WaitReady(ctx, true, 2*time.Minute) {
		fmt.Fprintln(m.out, "chaos: the RedisFailover never became ready; no chaos")
		return
	}
	client, err := m.c.SentinelClient()
	if err != nil {
		fmt.Fprintln(m.out, "chaos: no writer:", err)
		return
	}
	defer client.Close()
	w, err := redistest.NewWriter(client, redistest.WriterConfig{Prefix: "chaos:", Wait: 200 * time.Millisecond,
		Timeout: time.Second, Pause: 5 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(m.out, "chaos: no writer:", err)
		return
	}
	defer m.summary(m.out)
	writeCtx, stopWriter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(writeCtx) })
	wg.Go(func() { m.countFailovers(writeCtx) })
	end := time.Now().Add(m.cfg.Duration)
	for time.Now().Before(end) {
		wait := time.Duration(rand.ExpFloat64() * float64(m.cfg.Every))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		if !m.killOne() {
			continue
		}
		// Recovery: from the kill until Ready is True again, once the status has noticed.
		m.c.WaitReady(ctx, false, 10*time.Second)
		if m.c.WaitReady(ctx, true, time.Minute) {
			m.mu.Lock()
			m.recovery = append(m.recovery, time.Since(start))
			m.mu.Unlock()
		}
	}
	m.c.WaitReady(ctx, true, time.Minute)
	stopWriter()
	wg.Wait()
	loss, err := w.Verify(ctx, client)
	if err != nil {
		fmt.Fprintln(m.out, "chaos:", err)
	}
	m.mu.Lock()
	m.writes, m.lost = w.Counts(), loss.Confirmed
	m.mu.Unlock()
}

// killOne SIGKILLs a random master, replica or sentinel; false when nothing could be killed.
func (m *Monkey) killOne() bool {
	master := m.c.Master()
	var masters, replicas []*local.Pod
	for _, p := range m.c.Redis() {
		if p == master {
			masters = append(masters, p)
		} else {
			replicas = append(replicas, p)
		}
	}
	groups := map[string][]*local.Pod{"master": masters, "replica": replicas, "sentinel": m.c.Sentinels()}
	kinds := []string{}
	for k, v := range groups {
		if len(v) > 0 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return false
	}
	slices.Sort(kinds)
	kind := kinds[rand.IntN(len(kinds))]
	victim := groups[kind][rand.IntN(len(groups[kind]))]
	if err := victim.Kill(false); err != nil {
		return false
	}
	fmt.Fprintf(m.out, "%s chaos: killed %s %s\n", time.Now().Format("15:04:05.000"), kind, victim.Name())
	m.mu.Lock()
	m.kills[kind]++
	m.mu.Unlock()
	return true
}

// countFailovers counts the changes of the master the healer reports.
func (m *Monkey) countFailovers(ctx context.Context) {
	last := ""
	for ctx.Err() == nil {
		cur := ""
		if p := m.c.Master(); p != nil {
			cur = p.Name()
		}
		if cur != "" && last != "" && cur != last {
			m.mu.Lock()
			m.failovers++
			m.mu.Unlock()
		}
		if cur != "" {
			last = cur
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *Monkey) summary(out io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(out, "chaos summary: kills master=%d replica=%d sentinel=%d; failovers observed %d\n",
		m.kills["master"], m.kills["replica"], m.kills["sentinel"], m.failovers)
	if len(m.recovery) > 0 {
		lo, med, hi := minMedianMax(m.recovery)
		fmt.Fprintf(out, "chaos summary: time to Ready again min %s median %s max %s (%d kills)\n",
			lo.Round(time.Millisecond), med.Round(time.Millisecond), hi.Round(time.Millisecond), len(m.recovery))
	}
	fmt.Fprintf(out, "chaos summary: writes %d, confirmed by WAIT 1 %d, confirmed writes lost %d\n",
		m.writes.Written, m.writes.Confirmed, len(m.lost))
}

func minMedianMax(ds []time.Duration) (lo, med, hi time.Duration) {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}
