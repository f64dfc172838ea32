package local

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// forwarder is the local stand-in for the rfrm- Service: a TCP port that leads to the current
// master. On a master change it closes every client connection, so that clients reconnect to the
// new master instead of writing to a demoted one.
type forwarder struct {
	ln   net.Listener
	log  zerolog.Logger
	dial func(ctx context.Context, addr string) (net.Conn, error)

	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
	closed bool // Serve is shutting down: no connection may register any more
	wg     sync.WaitGroup
}

func newForwarder(addr string, log zerolog.Logger) (*forwarder, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: time.Second}
	dial := func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	return &forwarder{ln: ln, log: log, dial: dial, conns: map[net.Conn]struct{}{}}, nil
}

// SetTarget points new connections at addr ("" refuses them) and closes the existing ones when
// the target changes.
func (f *forwarder) SetTarget(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if addr == f.target {
		return
	}
	f.log.Info().Str("from", f.target).Str("to", addr).Int("closed", len(f.conns)).Msg("master port follows the master")
	f.target = addr
	for c := range f.conns {
		c.Close()
	}
}

// Serve accepts connections until ctx ends, then closes everything and waits. A connection
// still being set up at that moment (its master being dialled) is closed when it would
// register, so no client can keep Serve waiting.
func (f *forwarder) Serve(ctx context.Context) {
	go func() {
		<-ctx.Done()
		f.ln.Close()
		f.mu.Lock()
		f.closed = true
		for c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	}()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			break
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.pipe(ctx, c)
		}()
	}
	f.wg.Wait()
}

func (f *forwarder) pipe(ctx context.Context, client net.Conn) {
	f.mu.Lock()
	target := f.target
	f.mu.Unlock()
	if target == "" {
		client.Close()
		return
	}
	upstream, err := f.dial(ctx, target)
	if err != nil {
		client.Close()
		return
	}
	f.mu.Lock()
	if f.target != target || f.closed { // the master changed, or Serve ended, while dialling
		f.mu.Unlock()
		client.Close()
		upstream.Close()
		return
	}
	f.conns[client] = struct{}{}
	f.conns[upstream] = struct{}{}
	f.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
	<-done
	client.Close()
	upstream.Close()
	<-done
	f.mu.Lock()
	delete(f.conns, client)
	delete(f.conns, upstream)
	f.mu.Unlock()
}
