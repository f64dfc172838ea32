package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/redhook/redhook/cmd/redhook/internal/failover"
	"github.com/redhook/redhook/cmd/redhook/internal/local"
)

// localFlags are the flags of `redhook local`: the local RedisFailover, the optional chaos
// monkey, and the healer's log level.
type localFlags struct {
	Local    local.Config
	Chaos    failover.MonkeyConfig
	LogLevel string
}

func parseLocalFlags(args []string, stdin io.Reader, out io.Writer) (localFlags, error) {
	f := localFlags{
		Local: local.Config{RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli",
			Stdin: stdin},
		Chaos:    failover.MonkeyConfig{Every: 5 * time.Second},
		LogLevel: "info",
	}
	var files fileList
	fs := flag.NewFlagSet("redhook local", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Var(&files, "f", "file with a RedisFailover or a RedisCluster (and its auth Secret); repeatable; a RedisFailover's edits apply while it runs (a pod template change rolls the redis pods), a RedisCluster's need a restart")
	fs.StringVar(&f.Local.DataDir, "data-dir", "", "keep config, data and logs here (default: a temporary directory, removed at exit)")
	fs.StringVar(&f.Local.PasswordFile, "password-file", "", "file holding the password (the auth Secret's \"password\" key)")
	base := fs.String("base-ip", "127.0.10.1", "first loopback address: redis pod i gets BASE+i, sentinel j gets BASE+256+j; RedisCluster pod rdc-NAME-k-i gets BASE+k*(1+replicationFactor)+i")
	fs.IntVar(&f.Local.MasterPort, "master-port", 0, "serve a TCP port on 127.0.0.1 that always leads to the current master (0: off)")
	fs.DurationVar(&f.Chaos.Duration, "chaos", 0, "for this long, kill a random master, replica or sentinel every --chaos-every, then print a summary")
	fs.DurationVar(&f.Chaos.Every, "chaos-every", f.Chaos.Every, "mean time between two kills of --chaos")
	fs.DurationVar(&f.Local.RestartDelay, "restart-delay", f.Local.RestartDelay, "how long a killed process stays down before it is restarted (like a kubelet)")
	fs.StringVar(&f.Local.RedisServer, "redis-server", f.Local.RedisServer, "redis-server binary")
	fs.StringVar(&f.Local.RedisCli, "redis-cli", f.Local.RedisCli, "redis-cli binary (the readiness scripts use it)")
	fs.StringVar(&f.LogLevel, "log-level", f.LogLevel, "healer log level (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	f.Local.Files = files
	f.Local.BaseIP = net.ParseIP(*base).To4()
	return f, f.Validate()
}

// Validate reports every problem of the flags.
func (f localFlags) Validate() error {
	errs := []error{f.Local.Validate(), f.Chaos.Validate()}
	if _, err := zerolog.ParseLevel(f.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: %w", f.LogLevel, err))
	}
	return errors.Join(errs...)
}

// localCommand runs a RedisFailover or a RedisCluster as local processes until SIGINT or
// SIGTERM.
func localCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, err := parseLocalFlags(args, stdin, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "redhook local:", err)
		return 2
	}
	lvl, _ := zerolog.ParseLevel(f.LogLevel)
	zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMs // this process only: milliseconds matter here
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05.000"}).Level(lvl).With().Timestamp().Logger()
	ctx, stop := signalContext()
	defer stop()
	isCluster, err := local.IsRedisCluster(&f.Local)
	if err != nil {
		fmt.Fprintln(stderr, "redhook local:", err)
		return 1
	}
	if isCluster {
		return localRedisCluster(ctx, f, stdout, stderr, log)
	}
	c, err := local.New(f.Local, stdout, log)
	if err != nil {
		fmt.Fprintln(stderr, "redhook local:", err)
		return 1
	}
	var load func(context.Context)
	if f.Chaos.Duration > 0 {
		load = failover.NewMonkey(c, f.Chaos, stdout).Run
	}
	if err := c.Run(ctx, load); err != nil {
		fmt.Fprintln(stderr, "redhook local:", err)
		return 1
	}
	return 0
}

// localRedisCluster runs a RedisCluster as local processes until ctx ends.
func localRedisCluster(ctx context.Context, f localFlags, stdout, stderr io.Writer, log zerolog.Logger) int {
	if f.Chaos.Duration > 0 {
		fmt.Fprintln(stderr, "redhook local: --chaos runs on a RedisFailover only")
		return 2
	}
	c, err := local.NewRedisCluster(f.Local, stdout, log)
	if err != nil {
		fmt.Fprintln(stderr, "redhook local:", err)
		return 1
	}
	if err := c.Run(ctx); err != nil {
		fmt.Fprintln(stderr, "redhook local:", err)
		return 1
	}
	return 0
}

// signalContext ends on SIGINT (Ctrl-C) or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

// benchFailover measures unplanned master loss on a local RedisFailover (see failover.Bench).
func benchFailover(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("redhook bench-failover", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 10, "failovers per down-after value and failure kind")
	downs := fs.String("down-after", "5000,1000", "down-after-milliseconds values, comma-separated")
	base := fs.String("base-ip", "127.0.60.1", "first loopback address of the local pods")
	port := fs.Int("master-port", 16390, "local master port")
	sentinelless := fs.Bool("sentinelless", false,
		"also measure sentinel-less mode, detection timeout = each down-after of 5 to 60 whole seconds")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := failover.BenchConfig{Runs: *runs, BaseIP: net.ParseIP(*base).To4(), MasterPort: *port, Sentinelless: *sentinelless}
	for _, s := range strings.Split(*downs, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || d < 100 {
			fmt.Fprintf(stderr, "--down-after %q: want milliseconds >= 100\n", s)
			return 2
		}
		cfg.DownAfter = append(cfg.DownAfter, d)
	}
	ctx, stop := signalContext()
	defer stop()
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr}).Level(zerolog.WarnLevel)
	if err := failover.Bench(ctx, cfg, stdout, log); err != nil {
		fmt.Fprintln(stderr, "bench-failover:", err)
		return 1
	}
	return 0
}
