package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/redhook/redhook/healer"
	"github.com/redhook/redhook/healer/rediscluster"
)

// serve runs the hook server until SIGTERM or SIGINT, then drains (see serveOn).
func serve(args []string, stderr io.Writer) int {
	cfg, err := parseServeFlags(args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "redhook serve:", err)
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serveUntil(ctx, cfg, log); err != nil {
		log.Error().Err(err).Msg("redhook serve stopped")
		return 1
	}
	return 0
}

// serveUntil listens on cfg.Listen and serves until ctx ends.
func serveUntil(ctx context.Context, cfg Config, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	return serveOn(ctx, ln, cfg, log)
}

// serveOn serves the hooks on ln and runs the healer until ctx ends. Then /readyz fails for
// cfg.DrainPeriod while requests are still served; then the HTTP server stops (in-flight syncs
// finish, within cfg.ShutdownTimeout), then the healer (its passes finish, its connections close).
func serveOn(ctx context.Context, ln net.Listener, cfg Config, log zerolog.Logger) error {
	reg := prometheus.NewRegistry()
	ready := &atomic.Bool{}
	pool, err := healer.NewPool(healer.Config{Workers: cfg.HealerWorkers, ForgetAfter: cfg.ForgetAfter, Registerer: reg}, log)
	if err != nil {
		return err
	}
	healerCtx, stopHealer := context.WithCancel(context.Background())
	defer stopHealer()
	if cfg.DebugListen != "" {
		if err := serveDebug(healerCtx, cfg.DebugListen, log); err != nil {
			return err
		}
	}
	healerDone := make(chan error, 1)
	go func() { healerDone <- pool.Run(healerCtx) }()
	clusters := rediscluster.New(rediscluster.Config{}, log)
	clusterHealer := newClusterHealer(clusters, cfg.ForgetAfter)
	clustersDone := make(chan error, 1)
	go func() { clustersDone <- clusters.Run(healerCtx) }()
	go clusterHealer.forgetLoop(healerCtx)
	stop := func() error {
		stopHealer()
		return errors.Join(<-healerDone, <-clustersDone)
	}
	s := &server{log: log, healer: pool, clusterHealer: clusterHealer, metrics: newHookMetrics(reg),
		maxBody: cfg.MaxBodyBytes, ready: ready, cache: newSyncCache(cfg.ForgetAfter)}
	srv := &http.Server{
		Handler:           newRouter(s, reg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready.Store(true)
	log.Info().Str("listen", ln.Addr().String()).Str("version", version).Msg("redhook serving")
	select {
	case err := <-errc:
		return errors.Join(fmt.Errorf("serve: %w", err), stop())
	case <-ctx.Done():
	}
	// Drain: /readyz fails while requests are still served, until the endpoints controller and
	// the proxies have taken this pod out of the Service; only then does the listener close.
	ready.Store(false)
	log.Info().Dur("drain_period", cfg.DrainPeriod).Msg("draining: readyz answers 503")
	drain := time.NewTimer(cfg.DrainPeriod)
	select {
	case err := <-errc:
		drain.Stop()
		return errors.Join(fmt.Errorf("serve: %w", err), stop())
	case <-drain.C:
	}
	log.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return errors.Join(fmt.Errorf("shutdown: %w", err), stop())
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(fmt.Errorf("serve: %w", err), stop())
	}
	return stop()
}
