package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/rs/zerolog"
)

// debugRouter serves Go's profiles (heap, CPU, goroutines…) under /debug/pprof/, for `go tool
// pprof http://ADDR/debug/pprof/heap`. It is served on its own address (--debug-listen), which
// no Service exposes: profiles show the process's internals and a CPU profile costs CPU.
func debugRouter() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveDebug serves debugRouter on addr until ctx ends; it returns once listening.
func serveDebug(ctx context.Context, addr string, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--debug-listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: debugRouter(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("debug server stopped")
		}
	}()
	log.Info().Str("listen", ln.Addr().String()).Msg("debug server: profiles under /debug/pprof/")
	return nil
}
