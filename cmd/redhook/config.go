package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/rs/zerolog"

	"github.com/redhook/redhook/healer"
)

// Config is the configuration of `redhook serve`. Flags win over environment variables, which
// win over the defaults.
type Config struct {
	Listen          string
	LogLevel        string
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	// DrainPeriod is how long /readyz answers 503 after SIGTERM while the listener still
	// serves, so that the Service stops sending requests before the server stops taking them.
	DrainPeriod   time.Duration
	HealerWorkers int
	// ForgetAfter is how long the healer keeps a RedisFailover that is not synced (deleted, or
	// its Metacontroller gone): then its connections close and its report and cached response
	// are dropped.
	ForgetAfter time.Duration
	// DebugListen, when set, is the address of a second HTTP server with Go's profiles
	// (/debug/pprof/): off by default, never on the hook server's port.
	DebugListen string
}

func defaultConfig() Config {
	return Config{Listen: ":8080", LogLevel: "info", MaxBodyBytes: 32 << 20, ShutdownTimeout: 20 * time.Second,
		DrainPeriod: 5 * time.Second, HealerWorkers: 8, ForgetAfter: healer.DefaultConfig().ForgetAfter}
}

// parseServeFlags reads the flags of `redhook serve`, with REDHOOK_* environment fallbacks.
func parseServeFlags(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := defaultConfig()
	if v := getenv("REDHOOK_LISTEN"); v != "" {
		cfg.Listen = v
	}
	if v := getenv("REDHOOK_LOG_LEVEL"); v != "" {
		cfg.LogLevel = v
	}
	if v := getenv("REDHOOK_DRAIN_PERIOD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("REDHOOK_DRAIN_PERIOD %q: want a duration such as 5s", v)
		}
		cfg.DrainPeriod = d
	}
	fs := flag.NewFlagSet("redhook serve", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address of the hook server (env REDHOOK_LISTEN)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "debug, info, warn or error (env REDHOOK_LOG_LEVEL)")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", cfg.MaxBodyBytes, "largest hook request accepted")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout,
		"how long in-flight requests may take after SIGTERM")
	fs.DurationVar(&cfg.DrainPeriod, "drain-period", cfg.DrainPeriod,
		"after SIGTERM, how long /readyz answers 503 while requests are still served (env REDHOOK_DRAIN_PERIOD)")
	fs.IntVar(&cfg.HealerWorkers, "healer-workers", cfg.HealerWorkers,
		"heal passes run at once (one per RedisFailover at a time)")
	fs.DurationVar(&cfg.ForgetAfter, "forget-after", cfg.ForgetAfter,
		"how long a RedisFailover that is not synced is kept (healed, its connections open); "+
			"well over the settled resync period (30s)")
	fs.StringVar(&cfg.DebugListen, "debug-listen", cfg.DebugListen,
		"address of a separate server with Go's profiles under /debug/pprof/, e.g. 127.0.0.1:6060; empty: none")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return cfg, cfg.Validate()
}

// Validate reports every problem of the configuration.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("--listen %q: %w", c.Listen, err))
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	if _, _, err := net.SplitHostPort(c.DebugListen); c.DebugListen != "" && err != nil {
		errs = append(errs, fmt.Errorf("--debug-listen %q: %w", c.DebugListen, err))
	}
	if c.MaxBodyBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("--max-body-bytes %d: at least 1 MiB", c.MaxBodyBytes))
	}
	if c.HealerWorkers < 1 {
		errs = append(errs, fmt.Errorf("--healer-workers %d: at least 1", c.HealerWorkers))
	}
	if c.ForgetAfter < time.Minute {
		errs = append(errs, fmt.Errorf("--forget-after %s: at least 1m (a settled RedisFailover is synced every 30s)", c.ForgetAfter))
	}
	if c.DrainPeriod < 0 {
		errs = append(errs, fmt.Errorf("--drain-period %s: must not be negative", c.DrainPeriod))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: must be positive", c.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// newLogger builds the process logger: JSON lines on w.
func newLogger(w io.Writer, level string) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(level) // validated
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("app", "redhook").Logger()
}
