package healer

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawConn is a plain RESP connection: unlike a client library it never reconnects, so a test
// sees exactly when the server closes it.
type rawConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &rawConn{conn: conn, r: bufio.NewReader(conn)}
}

// do sends one command and returns the first line of the reply ("+PONG", "-READONLY …").
func (c *rawConn) do(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.conn.Write([]byte(b.String())); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if strings.HasPrefix(line, "$") && !strings.HasPrefix(line, "$-1") {
		_, _ = c.r.ReadString('\n') // the bulk string itself
	}
	return strings.TrimSpace(line), err
}

// closed tells whether the server closed the connection: a read sees EOF (or a reset).
func (c *rawConn) closed() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := c.r.Peek(1)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false // nothing to read: open
	}
	return err != nil
}

// TestIntegrationMisdirectedWritersClosed: a client that writes to a former master, now a
// replica (as one that reached the old master's address through a master Service whose
// endpoints have not moved yet does), has its connection closed, so that it reconnects and finds
// the master; a client that reads from it keeps its connection, and so does one that writes to
// a replica that was never master (the application's mistake, not a stale endpoint).
func TestIntegrationMisdirectedWritersClosed(t *testing.T) {
	c := redistest.NewCluster(t, "misdir", redistest.Options{Redis: 3, Sentinels: 3})
	p := startPool(t)
	p.Track(topology(c))
	former := waitConverged(t, p, c, 20*time.Second)
	// NOGOODSLAVE until the sentinel has read the replicas from the new master's INFO.
	redistest.WaitFor(t, 15*time.Second, "SENTINEL FAILOVER accepted", func() error {
		return c.Sentinels[0].Do("SENTINEL", "FAILOVER", redistest.MasterName).Error()
	})
	var master *redistest.Proc
	redistest.WaitFor(t, 20*time.Second, "a new master", func() error {
		m, err := converged(c)
		if err == nil && m == former {
			err = fmt.Errorf("still %s", m.Name)
		}
		master = m
		return err
	})
	var never *redistest.Proc
	for _, r := range c.Redis {
		if r != master && r != former {
			never = r
		}
	}

	reader := dialRaw(t, former.Addr())
	reply, err := reader.do("GET", "k")
	require.NoError(t, err)
	require.Equal(t, "$-1", reply)
	stranger := dialRaw(t, never.Addr())
	reply, err = stranger.do("SET", "k", "v")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(reply, "-READONLY"), reply)
	writer := dialRaw(t, former.Addr())
	reply, err = writer.do("SET", "k", "v")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(reply, "-READONLY"), reply)
	refused := time.Now()

	redistest.WaitFor(t, 10*time.Second, "the writer's connection closed", func() error {
		if !writer.closed() {
			return fmt.Errorf("still open")
		}
		return nil
	})
	t.Logf("writer closed %v after its write was refused", time.Since(refused).Round(10*time.Millisecond))
	from := p.passes(t)
	p.waitPasses(t, from, 3)
	assert.False(t, reader.closed(), "the reader's connection must stay open")
	reply, err = reader.do("PING")
	require.NoError(t, err)
	assert.Equal(t, "+PONG", reply)
	assert.False(t, stranger.closed(), "a writer of a replica that was never master keeps its connection")

	var closes []string
	for _, a := range p.Report(reportKey(c)).LastActions {
		if strings.HasPrefix(a.Action, "close ") {
			closes = append(closes, a.Action)
		}
	}
	assert.Equal(t, []string{fmt.Sprintf("close 1 clients of %s (last command set)", former.Name)}, closes)
}
