// Package scale is the load generator of `redhook bench-scale`: it starts `redhook serve`,
// sends it sync requests the way Metacontroller does for N RedisFailovers, and prints what
// each sync costs the server, then what the RedisFailovers cost once nobody syncs them.
package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Config is one run.
type Config struct {
	Server    string   // the redhook binary to start with "serve"
	ServeArgs []string // more flags for serve
	Testdata  string   // hooks/testdata/sync
	Req       string   // children or minimal
	N         int
	Period    time.Duration
	Workers   int
	Warmup    time.Duration // load before the measured window: every RedisFailover synced once
	Duration  time.Duration // the measured window
	// IdleSettle is how long the idle server is left alone before IdleWindow is measured;
	// IdleWindow 0 skips the idle measurement.
	IdleSettle time.Duration
	IdleWindow time.Duration
	ServerLog  io.Writer // the server's stderr; nil discards it
}

// Validate names the flag at fault.
func (c Config) Validate() error {
	var errs []error
	if c.N < 1 {
		errs = append(errs, fmt.Errorf("--n %d: at least 1", c.N))
	}
	if c.Period <= 0 {
		errs = append(errs, fmt.Errorf("--period %s: must be positive", c.Period))
	}
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers %d: at least 1", c.Workers))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration %s: must be positive", c.Duration))
	}
	return errors.Join(errs...)
}

// Result is what one run measured.
type Result struct {
	Config
	Offered, Served float64 // requests per second
	Errors          int
	P50, P99        time.Duration
	MaxQueued       time.Duration
	CPUPerSync      time.Duration
	CPU             float64 // cores during the window
	HitRatio        float64 // of the sync response cache; -1 without one
	RSS             int64   // the largest seen, bytes
	RSSEnd          int64   // at the end of the measured window
	IdleCPU         float64 // cores, -1 when not measured
	IdleGoroutines  float64
	IdlePasses      float64 // heal passes per second
	FirstError      error
}

// String is the one line a run prints.
func (r Result) String() string {
	s := fmt.Sprintf("scale: N=%d P=%s req=%s offered=%.0f/s served=%.0f/s p50=%s p99=%s max_queued=%s "+
		"cpu_per_sync=%.0fµs cpu=%.0f%% rss=%dMiB rss_end=%dMiB",
		r.N, r.Period, r.Req, r.Offered, r.Served, ms(r.P50), ms(r.P99), ms(r.MaxQueued),
		float64(r.CPUPerSync)/float64(time.Microsecond), 100*r.CPU, r.RSS>>20, r.RSSEnd>>20)
	if r.HitRatio >= 0 {
		s += fmt.Sprintf(" cache_hits=%.0f%%", 100*r.HitRatio)
	}
	if r.IdleCPU >= 0 {
		s += fmt.Sprintf(" idle_cpu=%.1f%% idle_goroutines=%.0f idle_passes=%.1f/s", 100*r.IdleCPU, r.IdleGoroutines, r.IdlePasses)
	}
	if r.Errors > 0 {
		s += fmt.Sprintf(" errors=%d (%v)", r.Errors, r.FirstError)
	}
	return s
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

// Run starts the server, loads it, measures, and stops it.
func Run(ctx context.Context, cfg Config) (Result, error) {
	res := Result{Config: cfg, IdleCPU: -1}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	tmpl, err := loadTemplate(cfg.Testdata, cfg.Req)
	if err != nil {
		return res, err
	}
	t, err := parseTemplate(tmpl)
	if err != nil {
		return res, err
	}
	bodies, err := buildRequests(t, cfg.N)
	if err != nil {
		return res, err
	}
	requests := make([]*parent, len(bodies))
	for i, b := range bodies {
		requests[i] = &parent{body: b}
	}
	srv, err := startServer(ctx, cfg)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	peak := &atomic.Int64{}
	stopRSS := sampleRSS(srv.pid(), peak)
	defer stopRSS()
	if err := measureLoad(ctx, cfg, srv, requests, &res); err != nil {
		return res, err
	}
	res.RSS = peak.Load()
	if cfg.IdleWindow > 0 {
		if err := measureIdle(ctx, cfg, srv, &res); err != nil {
			return res, err
		}
	}
	res.RSS = peak.Load()
	return res, nil
}

// measureLoad runs the load for Warmup + Duration and measures the window after Warmup.
func measureLoad(ctx context.Context, cfg Config, srv *server, requests []*parent, res *Result) error {
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan loadResult, 1)
	go func() { done <- runLoad(loadCtx, srv.base+"/sync", requests, cfg.Period, cfg.Workers) }()
	if !sleep(ctx, cfg.Warmup) {
		return ctx.Err()
	}
	from := time.Now()
	cpu0, err := cpuTime(srv.pid())
	if err != nil {
		return err
	}
	hits0, misses0 := cacheCounts(srv.base)
	if !sleep(ctx, cfg.Duration) {
		return ctx.Err()
	}
	to := time.Now()
	cpu1, err := cpuTime(srv.pid())
	if err != nil {
		return err
	}
	if res.RSSEnd, err = rssBytes(srv.pid()); err != nil {
		return err
	}
	res.HitRatio = -1
	if hits1, misses1 := cacheCounts(srv.base); hits1 >= 0 && hits1+misses1 > hits0+misses0 {
		res.HitRatio = (hits1 - hits0) / (hits1 + misses1 - hits0 - misses0)
	}
	cancel()
	lr := <-done
	w := lr.summarize(from, to)
	secs := to.Sub(from).Seconds()
	res.Offered = float64(cfg.N) / cfg.Period.Seconds()
	res.Served = float64(w.served) / secs
	res.Errors, res.FirstError = w.errors, lr.firstError()
	res.P50, res.P99, res.MaxQueued = w.p50, w.p99, w.maxQueued
	res.CPU = (cpu1 - cpu0).Seconds() / secs
	if w.served > 0 {
		res.CPUPerSync = (cpu1 - cpu0) / time.Duration(w.served)
	}
	return nil
}

// measureIdle leaves the server without syncs for IdleSettle, then measures IdleWindow.
func measureIdle(ctx context.Context, cfg Config, srv *server, res *Result) error {
	if !sleep(ctx, cfg.IdleSettle) {
		return ctx.Err()
	}
	cpu0, err := cpuTime(srv.pid())
	if err != nil {
		return err
	}
	passes0 := metric(srv.base, "redhook_healer_passes_total")
	start := time.Now()
	if !sleep(ctx, cfg.IdleWindow) {
		return ctx.Err()
	}
	cpu1, err := cpuTime(srv.pid())
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	res.IdleCPU = (cpu1 - cpu0).Seconds() / secs
	res.IdlePasses = (metric(srv.base, "redhook_healer_passes_total") - passes0) / secs
	res.IdleGoroutines = metric(srv.base, "go_goroutines")
	return nil
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// sampleRSS records the largest RSS of pid every 200 ms until the returned func is called.
func sampleRSS(pid int, peak *atomic.Int64) func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := rssBytes(pid); err == nil && rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(stop); <-done }
}

// server is the `redhook serve` process under test.
type server struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// startServer starts `redhook serve` on a free loopback port and waits until it is ready.
func startServer(ctx context.Context, cfg Config) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--listen", addr, "--log-level", "warn", "--drain-period", "0s"}, cfg.ServeArgs...)
	cmd := exec.Command(cfg.Server, args...)
	cmd.Stdout, cmd.Stderr = cfg.ServerLog, cfg.ServerLog
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cfg.Server, err)
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	if err := s.waitReady(ctx, 10*time.Second); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if !sleep(ctx, 50*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("%s serve %s: not ready after %s", s.cmd.Path, strings.TrimPrefix(s.base, "http://"), timeout)
}

// stop sends SIGTERM, and SIGKILL after 10 s.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// Executable is the running binary, the default server.
func Executable() string {
	p, err := os.Executable()
	if err != nil {
		return "redhook"
	}
	return p
}

// cacheCounts reads the sync cache's hits and misses so far; -1, -1 when the server has no cache
// (an older redhook).
func cacheCounts(base string) (hits, misses float64) {
	if metric(base, "redhook_sync_cache_total") < 0 {
		return -1, -1
	}
	return max(0, metric(base, `redhook_sync_cache_total{result="hit"}`)), max(0, metric(base, `redhook_sync_cache_total{result="miss"}`))
}
