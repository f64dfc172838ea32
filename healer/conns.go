package healer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
)

// conns holds one reusable rueidis client per address of one RedisFailover. A client is made
// on first use and reconnects by itself; it is closed when its address leaves the topology,
// when the password changes, or when the RedisFailover is forgotten.
//
// Dials run outside the lock, one per address at a time: the observe of a pass reads every pod
// at once, and a pod that does not answer (a blackholed IP costs the whole dial timeout) must
// not hold up the dials to the others. A failed dial is remembered for failFor, so that the
// other reads and writes of the same pass, and the subscription to a sentinel, do not each wait
// for the dial timeout again.
type conns struct {
	dialTimeout    time.Duration
	commandTimeout time.Duration
	// failFor is how long a failed dial is remembered: min(1 s, MinBackoff), see newConns.
	failFor time.Duration
	// dial makes a client; rueidis.NewClient but in tests. It returns within the dial timeout
	// (ctx ends then too); a client it returns along with an error is closed by get.
	dial func(ctx context.Context, opt rueidis.ClientOption) (rueidis.Client, error)

	mu     sync.Mutex
	byAddr map[string]*conn
	closed bool
}

// connBuffer is the read and the write buffer of each healer connection; 2^connRingScale
// commands may be in flight on it at once (more wait for a slot).
const (
	connBuffer    = 4 << 10
	connRingScale = 5
)

// errClosed is returned by get once the RedisFailover is forgotten or the pool stopped, and to
// those who waited for a dial whose address was dropped meanwhile.
var errClosed = errors.New("connections closed")

// conn is the client of one address, or the dial that makes it. client and err are set before
// ready is closed, and never change after.
type conn struct {
	password string
	ready    chan struct{}
	client   rueidis.Client
	err      error
	failed   time.Time // when the dial failed; the failure is remembered for failFor
}

// dialed tells whether the dial of cn ended.
func (cn *conn) dialed() bool {
	select {
	case <-cn.ready:
		return true
	default:
		return false
	}
}

// newConns makes the connections of one RedisFailover. A failed dial is remembered for
// min(1 s, minBackoff): long enough that one pass (observe, apply, observe again) and the
// sentinel subscriptions pay for a blackholed pod once, short enough that the next pass after
// a failed one, due after at least minBackoff, dials again: a restarted pod is seen at once.
func newConns(dialTimeout, commandTimeout, minBackoff time.Duration) *conns {
	return &conns{dialTimeout: dialTimeout, commandTimeout: commandTimeout, failFor: min(time.Second, minBackoff),
		dial: func(_ context.Context, opt rueidis.ClientOption) (rueidis.Client, error) {
			return rueidis.NewClient(opt) // bounded by opt.Dialer.Timeout
		},
		byAddr: map[string]*conn{}}
}

// get returns the client for addr, dialling it when needed. Dialling fails at once when nothing
// listens; a failed dial is returned again, without dialling, for failFor. While a dial of addr
// runs, get waits for it and shares its result.
func (c *conns) get(addr string, password hooks.Secret) (rueidis.Client, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, errClosed
		}
		cn, ok := c.byAddr[addr]
		switch {
		case !ok:
			cn = &conn{password: password.Value(), ready: make(chan struct{})}
			c.byAddr[addr] = cn
			c.mu.Unlock()
			c.connect(addr, cn)
			return cn.client, cn.err
		case !cn.dialed():
			c.mu.Unlock()
			<-cn.ready
			if cn.password == password.Value() {
				return cn.client, cn.err
			}
			continue // dialled with the old password: look again
		case cn.password == password.Value() && (cn.err == nil || time.Since(cn.failed) < c.failFor):
			c.mu.Unlock()
			return cn.client, cn.err
		}
		c.remove(addr, cn) // another password, or a failure old enough to try again
		c.mu.Unlock()
	}
}

// connect dials addr for cn, outside the lock, and publishes the result. A client that the dial
// returns along with an error is closed (rueidis returns one with ForceSingleClient), as is one
// whose address was dropped while it dialled.
func (c *conns) connect(addr string, cn *conn) {
	ctx, cancel := context.WithTimeout(context.Background(), c.dialTimeout)
	defer cancel()
	client, err := c.dial(ctx, rueidis.ClientOption{
		InitAddress:       []string{addr},
		Password:          cn.password,
		DisableCache:      true, // Sentinel and Redis 7.0 replicas: no client tracking wanted
		ForceSingleClient: true, // never probe for a cluster
		DisableRetry:      true, // a write that failed is planned again from a fresh snapshot
		ClientName:        "redhook-healer",
		ClientSetInfo:     rueidis.DisableClientSetInfo, // CLIENT SETINFO is Redis ≥ 7.2
		Dialer:            net.Dialer{Timeout: c.dialTimeout, KeepAlive: 30 * time.Second},
		ConnWriteTimeout:  c.commandTimeout,
		// One connection per address (rueidis opens up to 2^PipelineMultiplex, 2 on 2 cores),
		// with small buffers and a small ring of in-flight commands. rueidis' defaults are made
		// for heavy traffic on few connections: 0.5 MiB of buffer each way and a ring of 1,024
		// slots (~350 KiB) per connection, ~1.4 MiB each, 8 GiB for 1,000 RedisFailovers of
		// 3 + 3 pods. The healer sends a few short commands per pass and a handful at once;
		// longer replies (INFO, CLIENT LIST) are read past the buffer.
		PipelineMultiplex:   -1,
		ReadBufferEachConn:  connBuffer,
		WriteBufferEachConn: connBuffer,
		RingScaleEachConn:   connRingScale,
	})
	if err != nil {
		if client != nil {
			client.Close()
		}
		client, err = nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && c.byAddr[addr] != cn {
		client.Close()
		client, err = nil, fmt.Errorf("connect %s: %w", addr, errClosed)
	}
	cn.client, cn.err = client, err
	if err != nil {
		cn.failed = time.Now()
	}
	close(cn.ready)
}

// remove forgets the conn of addr and closes its client. A dial still running is only
// forgotten: connect closes its client when it ends. Caller holds c.mu.
func (c *conns) remove(addr string, cn *conn) {
	delete(c.byAddr, addr)
	if cn.dialed() && cn.client != nil {
		cn.client.Close()
	}
}

// drop closes the client of addr, e.g. after a timeout, so the next use dials afresh.
func (c *conns) drop(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn, ok := c.byAddr[addr]; ok {
		c.remove(addr, cn)
	}
}

// keepOnly closes every client whose address is not in keep.
func (c *conns) keepOnly(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, cn := range c.byAddr {
		if !keep[addr] {
			c.remove(addr, cn)
		}
	}
}

// closeAll closes every client for good: get fails from then on.
func (c *conns) closeAll() {
	c.keepOnly(nil)
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// len is the number of open clients.
func (c *conns) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, cn := range c.byAddr {
		if cn.dialed() && cn.client != nil {
			n++
		}
	}
	return n
}

// addresses of the pods of a topology.
func redisAddr(t hooks.Topology, p hooks.PodRef) string {
	return hooks.Endpoint{Host: p.IP, Port: t.RedisPort}.Address()
}

func sentinelAddr(t hooks.Topology, p hooks.PodRef) string {
	return hooks.Endpoint{Host: p.IP, Port: t.SentinelPort}.Address()
}

// topologyAddrs is every address the healer may talk to for t.
func topologyAddrs(t hooks.Topology) map[string]bool {
	out := map[string]bool{}
	for _, p := range t.Redis {
		if p.IP != "" {
			out[redisAddr(t, p)] = true
		}
	}
	for _, p := range t.Sentinels {
		if p.IP != "" {
			out[sentinelAddr(t, p)] = true
		}
	}
	return out
}
