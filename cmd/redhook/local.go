package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// localConfig is the configuration of `redhook local`.
type localConfig struct {
	Files        fileList
	DataDir      string // empty: a temporary directory removed at the end
	PasswordFile string
	BaseIP       net.IP
	MasterPort   int
	Chaos        time.Duration
	ChaosEvery   time.Duration
	RestartDelay time.Duration
	RedisServer  string
	RedisCli     string
	LogLevel     string
}

func parseLocalFlags(args []string, out io.Writer) (localConfig, error) {
	cfg := localConfig{RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli",
		ChaosEvery: 5 * time.Second, LogLevel: "info"}
	fs := flag.NewFlagSet("redhook local", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Var(&cfg.Files, "f", "file with a RedisFailover (and its auth Secret); repeatable")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "keep config, data and logs here (default: a temporary directory, removed at exit)")
	fs.StringVar(&cfg.PasswordFile, "password-file", "", "file holding the password (the auth Secret's \"password\" key)")
	base := fs.String("base-ip", "127.0.10.1", "first loopback address: redis pod i gets BASE+i, sentinel j gets BASE+256+j")
	fs.IntVar(&cfg.MasterPort, "master-port", 0, "serve a TCP port on 127.0.0.1 that always leads to the current master (0: off)")
	fs.DurationVar(&cfg.Chaos, "chaos", 0, "for this long, kill a random master, replica or sentinel every --chaos-every, then print a summary")
	fs.DurationVar(&cfg.ChaosEvery, "chaos-every", cfg.ChaosEvery, "mean time between two kills of --chaos")
	fs.DurationVar(&cfg.RestartDelay, "restart-delay", cfg.RestartDelay, "how long a killed process stays down before it is restarted (like a kubelet)")
	fs.StringVar(&cfg.RedisServer, "redis-server", cfg.RedisServer, "redis-server binary")
	fs.StringVar(&cfg.RedisCli, "redis-cli", cfg.RedisCli, "redis-cli binary (the readiness scripts use it)")
	fs.StringVar(&cfg.LogLevel, "log-level", cfg.LogLevel, "healer log level (debug, info, warn, error)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	cfg.BaseIP = net.ParseIP(*base).To4()
	return cfg, cfg.Validate()
}

// Validate reports every problem of the configuration.
func (c localConfig) Validate() error {
	var errs []error
	if len(c.Files) == 0 {
		errs = append(errs, errors.New("-f FILE is required"))
	}
	if c.BaseIP == nil || c.BaseIP[0] != 127 {
		errs = append(errs, errors.New("--base-ip: want an IPv4 loopback address (127.x.y.z)"))
	}
	if c.MasterPort < 0 || c.MasterPort > 65535 {
		errs = append(errs, fmt.Errorf("--master-port %d: not a port", c.MasterPort))
	}
	if c.Chaos < 0 || c.ChaosEvery <= 0 || c.RestartDelay < 0 {
		errs = append(errs, errors.New("--chaos, --chaos-every and --restart-delay must be positive"))
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: %w", c.LogLevel, err))
	}
	return errors.Join(errs...)
}

// local runs a RedisFailover as local processes until SIGINT or SIGTERM.
func local(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseLocalFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "redhook local:", err)
		return 2
	}
	lvl, _ := zerolog.ParseLevel(cfg.LogLevel)
	zerolog.TimeFieldFormat = zerolog.TimeFormatUnixMs // this process only: milliseconds matter here
	log := zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: "15:04:05.000"}).Level(lvl).With().Timestamp().Logger()
	ctx, stop := signalContext()
	defer stop()
	c, err := newLocalCluster(cfg, stdout, log)
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

// readPasswordFile returns the password in path, without a trailing newline.
func readPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	pw := string(b)
	for len(pw) > 0 && (pw[len(pw)-1] == '\n' || pw[len(pw)-1] == '\r') {
		pw = pw[:len(pw)-1]
	}
	if pw == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return pw, nil
}
