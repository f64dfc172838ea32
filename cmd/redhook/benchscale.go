package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/redhook/redhook/cmd/redhook/internal/scale"
)

// benchScale measures `redhook serve` under the sync load of many RedisFailovers (see
// scale.Run) and prints one line per run.
func benchScale(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("redhook bench-scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := scale.Config{}
	fs.StringVar(&cfg.Server, "redhook", scale.Executable(), "the redhook binary to measure (started with serve)")
	serveArgs := fs.String("serve-args", "", "more flags for serve, space-separated")
	fs.StringVar(&cfg.Testdata, "testdata", "hooks/testdata/sync", "the recorded sync requests")
	fs.StringVar(&cfg.Req, "req", "children", "children (recorded request, 3 redis + 3 sentinels, 54 KB) or minimal")
	fs.IntVar(&cfg.N, "n", 1000, "RedisFailovers")
	fs.DurationVar(&cfg.Period, "period", 2*time.Second, "each RedisFailover is synced every period (2s unsettled, 30s settled)")
	fs.IntVar(&cfg.Workers, "workers", 16, "concurrent requests (Metacontroller's workers)")
	warmup := fs.Duration("warmup", 0, "load before the measured window (default: one period, at least 5s)")
	duration := fs.Duration("duration", 0, "measured window (default: two periods, at least 30s)")
	fs.DurationVar(&cfg.IdleSettle, "idle-settle", 60*time.Second, "after the load, wait this long before measuring idle")
	fs.DurationVar(&cfg.IdleWindow, "idle-window", 30*time.Second, "idle measurement window; 0 skips it")
	runs := fs.Int("runs", 1, "runs, one line each")
	verbose := fs.Bool("v", false, "show the server's log")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.ServeArgs = strings.Fields(*serveArgs)
	cfg.Warmup = orDefault(*warmup, max(cfg.Period, 5*time.Second))
	cfg.Duration = orDefault(*duration, max(2*cfg.Period, 30*time.Second))
	if *verbose {
		cfg.ServerLog = stderr
	}
	ctx, stop := signalContext()
	defer stop()
	for range *runs {
		res, err := scale.Run(ctx, cfg)
		if err != nil {
			fmt.Fprintln(stderr, "bench-scale:", err)
			return 1
		}
		fmt.Fprintln(stdout, res)
	}
	return 0
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
