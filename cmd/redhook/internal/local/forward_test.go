package local

import (
	"bufio"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoServer answers every line with its own name, on a loopback port.
func echoServer(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if _, err := io.WriteString(c, name+"\n"); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func ask(t *testing.T, c net.Conn, r *bufio.Reader) (string, error) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "who\n"); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

// TestForwarderFollowsTheMaster: connections go to the current target; a target change closes
// the open ones so that clients reconnect to the new master; no target refuses.
func TestForwarderFollowsTheMaster(t *testing.T) {
	a, b := echoServer(t, "a"), echoServer(t, "b")
	f, err := newForwarder("127.0.0.1:0", zerolog.Nop())
	require.NoError(t, err)
	stop := background(f.Serve)
	defer stop()
	addr := f.ln.Addr().String()

	f.SetTarget(a)
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	r := bufio.NewReader(c)
	got, err := ask(t, c, r)
	require.NoError(t, err)
	assert.Equal(t, "a\n", got)

	f.SetTarget(b)
	_, err = ask(t, c, r)
	assert.Error(t, err, "a connection to the old master must be closed")

	c2, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c2.Close()
	got, err = ask(t, c2, bufio.NewReader(c2))
	require.NoError(t, err)
	assert.Equal(t, "b\n", got)

	f.SetTarget("")
	c3, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c3.Close()
	_, err = ask(t, c3, bufio.NewReader(c3))
	assert.Error(t, err, "no master: connections are refused")
}

// TestForwarderShutdownClosesLateConnections: a client whose connection is still being set up
// (dialling the master) when Serve's context ends must not keep Serve from returning.
func TestForwarderShutdownClosesLateConnections(t *testing.T) {
	a := echoServer(t, "a")
	f, err := newForwarder("127.0.0.1:0", zerolog.Nop())
	require.NoError(t, err)
	dialling, release := make(chan struct{}), make(chan struct{})
	dial := f.dial
	f.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		close(dialling)
		<-release // the shutdown happens while the master is dialled
		return dial(context.Background(), addr)
	}
	f.SetTarget(a)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		f.Serve(ctx)
	}()
	c, err := net.Dial("tcp", f.ln.Addr().String())
	require.NoError(t, err)
	defer c.Close() // the client never hangs up during the test
	<-dialling
	cancel()
	time.Sleep(100 * time.Millisecond) // the listener is closed and the open connections swept
	close(release)
	select {
	case <-served:
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return: a connection set up during the shutdown kept it waiting")
	}
	_, err = ask(t, c, bufio.NewReader(c))
	assert.Error(t, err, "the late connection is closed")
}
