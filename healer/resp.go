package healer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redhook/redhook/healer/decision"
)

// respConn is one plain RESP2 connection, used by the master watcher. The watcher needs what a
// pipelining client hides: one connection it owns, a hard deadline on every round trip, and a
// broken connection noticed as such (a new connection is a new chance to see a new run id).
type respConn struct {
	conn net.Conn
	rd   *bufio.Reader
}

// errReply is an error reply of Redis (-ERR …, -NOAUTH …).
type errReply string

func (e errReply) Error() string { return string(e) }

// dialRESP connects to addr within timeout and authenticates when password is set.
func dialRESP(ctx context.Context, addr, password string, timeout time.Duration) (*respConn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &respConn{conn: conn, rd: bufio.NewReaderSize(conn, 4096)}
	if password != "" {
		if _, err := c.do(time.Now().Add(timeout), "AUTH", password); err != nil {
			c.close()
			return nil, fmt.Errorf("auth %s: %w", addr, err)
		}
	}
	return c, nil
}

// do sends one command and reads its reply, both before deadline.
func (c *respConn) do(deadline time.Time, args ...string) (any, error) {
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c.conn, encodeRESP(args...)); err != nil {
		return nil, err
	}
	return readRESP(c.rd)
}

func (c *respConn) close() { _ = c.conn.Close() } // nothing to flush: a close error says nothing

// encodeRESP encodes a command as an array of bulk strings.
func encodeRESP(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

// malformed is the error of a reply that breaks RESP, worded as the parsers of decision word
// theirs.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", decision.ErrMalformed, fmt.Sprintf(format, args...))
}

// readRESP reads one RESP2 reply as the values decision.ParseRole and decision.ParseInfo take:
// string, int64, nil, []any; an error reply is returned as errReply.
func readRESP(rd *bufio.Reader) (any, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, malformed("RESP line %q", line)
	}
	kind, body := line[0], line[1:len(line)-2]
	switch kind {
	case '+':
		return body, nil
	case '-':
		return nil, errReply(body)
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, malformed("RESP integer %q", body)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 64<<20 {
			return nil, malformed("RESP bulk length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 1<<20 {
			return nil, malformed("RESP array length %q", body)
		}
		if n == -1 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readRESP(rd); err != nil {
				var e errReply
				if errors.As(err, &e) {
					continue // an error inside an array is a value, not a broken stream
				}
				return nil, err
			}
		}
		return out, nil
	}
	return nil, malformed("RESP type %q", kind)
}
