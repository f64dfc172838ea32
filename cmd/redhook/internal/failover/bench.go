package failover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/rs/zerolog"

	"github.com/redhook/redhook/cmd/redhook/internal/local"
	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
)

// BenchConfig is what `redhook bench-failover` measures, and where.
type BenchConfig struct {
	Runs       int   // failovers per down-after value and failure kind
	DownAfter  []int // down-after-milliseconds values
	BaseIP     net.IP
	MasterPort int
	// Sentinelless also measures sentinel-less mode (spec.sentinel.enabled: false) in the same
	// run, with the detection timeout equal to each D that is a whole number of seconds from 5 to
	// 60, right after Sentinel mode at that D.
	Sentinelless bool
}

// Validate reports every problem of the configuration.
func (c BenchConfig) Validate() error {
	var errs []error
	if len(c.DownAfter) == 0 {
		errs = append(errs, errors.New("--down-after: no value"))
	}
	for _, d := range c.DownAfter {
		if d < 100 {
			errs = append(errs, fmt.Errorf("--down-after %d: want milliseconds >= 100", d))
		}
	}
	if c.Sentinelless && len(c.sentinellessTimeouts()) == 0 {
		errs = append(errs, fmt.Errorf("--sentinelless: no --down-after of %d to %d whole seconds to use as the detection timeout",
			hooks.MinDetectionTimeout, hooks.MaxDetectionTimeout))
	}
	return errors.Join(errs...)
}

// sentinellessTimeouts are the D values, in seconds, at which sentinel-less mode is measured.
func (c BenchConfig) sentinellessTimeouts() map[int]bool {
	out := map[int]bool{}
	for _, d := range c.DownAfter {
		if s := d / 1000; c.Sentinelless && d%1000 == 0 && s >= hooks.MinDetectionTimeout && s <= hooks.MaxDetectionTimeout {
			out[d] = true
		}
	}
	return out
}

// Bench measures unplanned master loss on a local RedisFailover: for each
// down-after-milliseconds D and each failure kind, how long until a Sentinel-aware client and a
// plain client on the master port write again, and how many writes are lost. It prints a line
// per run, then a table, to out.
func Bench(ctx context.Context, cfg BenchConfig, out io.Writer, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	var rows []benchRow
	for _, d := range cfg.DownAfter {
		r, err := benchOneD(ctx, cfg, d, false, out, log)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
		if cfg.sentinellessTimeouts()[d] {
			r, err := benchOneD(ctx, cfg, d, true, out, log)
			if err != nil {
				return err
			}
			rows = append(rows, r...)
		}
	}
	printBenchTable(out, rows)
	return nil
}

// benchRow is the result of one D and one failure kind.
type benchRow struct {
	mode                 string // Sentinel or sentinel-less
	down                 int
	kind                 string
	sentinel, masterPort []time.Duration
	confirmedLost        int
	unconfirmedLost      int
	confirmed            int
	failed               int
}

// benchTimeout bounds one write, and the master port client's dial.
const benchTimeout = 250 * time.Millisecond

const (
	kindRestart = "restarted after 1 s"
	kindGone    = "host gone"
	// kindFrozen: the master's process is stopped with SIGSTOP while measured, then resumed: its
	// host stops answering, connections to it time out instead of being refused (a killed
	// process that stays down, kindGone, is refused at once, which sentinel-less mode takes as
	// proof that nothing runs there). When resumed it finds itself demoted or fenced.
	kindFrozen = "host frozen"
)

// Modes of a row.
const (
	modeSentinel     = "Sentinel"
	modeSentinelless = "sentinel-less"
)

// benchSpec is the RedisFailover spec measured at D = down ms.
func benchSpec(down int, sentinelless bool) string {
	if sentinelless {
		return fmt.Sprintf("  sentinel: {enabled: false, detectionTimeoutSeconds: %d}\n", down/1000)
	}
	return fmt.Sprintf("  sentinel:\n    customConfig: [\"down-after-milliseconds %d\"]\n", down)
}

func benchOneD(ctx context.Context, bc BenchConfig, down int, sentinelless bool, out io.Writer, log zerolog.Logger) ([]benchRow, error) {
	dir, err := os.MkdirTemp("", "redhook-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rf := filepath.Join(dir, "rf.yaml")
	if err := os.WriteFile(rf, []byte(`apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: bench}
spec:
`+benchSpec(down, sentinelless)), 0o600); err != nil {
		return nil, err
	}
	cfg := local.Config{Files: []string{rf}, BaseIP: bc.BaseIP, MasterPort: bc.MasterPort,
		RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli"}
	c, err := local.New(cfg, io.Discard, log)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx, nil) }()
	defer func() { cancel(); <-done }()
	if !c.WaitReady(ctx, true, time.Minute) {
		return nil, errors.New("the local RedisFailover did not become ready within a minute")
	}
	// The confirming writer goes through Sentinel; without sentinels, through the master port.
	mode := modeSentinel
	var client rueidis.Client
	if sentinelless {
		mode = modeSentinelless
		client, err = c.MasterPortClient(benchTimeout)
	} else {
		client, err = c.SentinelClient()
	}
	if err != nil {
		return nil, err
	}
	defer client.Close()
	portClient, err := c.MasterPortClient(benchTimeout)
	if err != nil {
		return nil, err
	}
	defer portClient.Close()
	rows := []benchRow{{mode: mode, down: down, kind: kindRestart}, {mode: mode, down: down, kind: kindGone},
		{mode: mode, down: down, kind: kindFrozen}}
	for i := 0; i < bc.Runs && ctx.Err() == nil; i++ {
		for k := range rows {
			if err := benchOnce(ctx, c, client, portClient, &rows[k], out, i); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// benchOnce kills the master once and measures.
func benchOnce(ctx context.Context, c *local.Cluster, client, portClient rueidis.Client, row *benchRow, out io.Writer, run int) error {
	if !c.WaitReady(ctx, true, 2*time.Minute) {
		return errors.New("not ready before a run")
	}
	victim := c.Master()
	if victim == nil {
		return errors.New("no master to kill")
	}
	prefix := fmt.Sprintf("bench:%s:%d:%s:%d:", row.mode[:4], row.down, row.kind[5:9], run)
	viaSentinel, err := redistest.NewWriter(client, redistest.WriterConfig{Prefix: prefix,
		Wait: 100 * time.Millisecond, Timeout: benchTimeout, Pause: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	// The plain client only writes: SET alone, as an application that does not WAIT.
	viaPort, err := redistest.NewWriter(portClient, redistest.WriterConfig{Prefix: prefix + "port:",
		Timeout: benchTimeout, Pause: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { viaSentinel.Run(wctx) })
	wg.Go(func() { viaPort.Run(wctx) })
	time.Sleep(500 * time.Millisecond) // steady writes before the kill
	killed := time.Now()
	hit := func() error { return victim.Kill(row.kind == kindGone) }
	if row.kind == kindFrozen {
		hit = victim.Freeze
	}
	if err := hit(); err != nil {
		stopWriters()
		wg.Wait()
		return err
	}
	// Both wait for the same deadline, killed + 60 s: one after the other is as long as at once.
	sent, _ := viaSentinel.Recovery(ctx, killed, 60*time.Second)
	port, _ := viaPort.Recovery(ctx, killed, 60*time.Second)
	stopWriters()
	wg.Wait()
	switch row.kind {
	case kindGone:
		victim.Release()
	case kindFrozen:
		if err := victim.Thaw(); err != nil {
			return err
		}
	}
	if !c.WaitReady(ctx, true, 2*time.Minute) {
		return errors.New("not ready after a run")
	}
	// A key that cannot be read counts as lost; the error only says why.
	loss, _ := viaSentinel.Verify(ctx, client)
	lostC, lostU := len(loss.Confirmed), len(loss.Unconfirmed)
	row.confirmedLost += lostC
	row.unconfirmedLost += lostU
	row.confirmed += viaSentinel.Counts().Confirmed
	if sent <= 0 || port <= 0 {
		row.failed++
	} else {
		row.sentinel = append(row.sentinel, sent)
		row.masterPort = append(row.masterPort, port)
	}
	fmt.Fprintf(out, "%-13s D=%d %-20s run %2d: confirming client %6s, master port %6s, confirmed lost %d, unconfirmed lost %d\n",
		row.mode, row.down, row.kind, run+1, sent.Round(time.Millisecond), port.Round(time.Millisecond), lostC, lostU)
	return nil
}

func printBenchTable(out io.Writer, rows []benchRow) {
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| mode | D (ms) | failure | runs | (a) confirming client (Sentinel; sentinel-less: master port) writes again min / median / max | (b) master port min / median / max | (c) confirmed writes lost | (d) unconfirmed writes lost |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(out, "| %s | %d | %s | %d (%d failed) | %s | %s | %d of %d | %d |\n", r.mode, r.down, r.kind,
			len(r.sentinel)+r.failed, r.failed, spread(r.sentinel), spread(r.masterPort), r.confirmedLost, r.confirmed,
			r.unconfirmedLost)
	}
}

func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	lo, med, hi := minMedianMax(ds)
	return fmt.Sprintf("%.2f / %.2f / %.2f s", lo.Seconds(), med.Seconds(), hi.Seconds())
}
