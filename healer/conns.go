package healer

import (
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
type conns struct {
	dialTimeout    time.Duration
	commandTimeout time.Duration

	mu     sync.Mutex
	byAddr map[string]*conn
	closed bool
}

// errClosed is returned by get once the RedisFailover is forgotten or the pool stopped.
var errClosed = errors.New("connections closed")

type conn struct {
	client   rueidis.Client
	password string
}

func newConns(dialTimeout, commandTimeout time.Duration) *conns {
	return &conns{dialTimeout: dialTimeout, commandTimeout: commandTimeout, byAddr: map[string]*conn{}}
}

// get returns the client for addr, dialling it when needed. Dialling fails at once when nothing
// listens; a failed dial is not cached, so the next pass tries again.
func (c *conns) get(addr string, password hooks.Secret) (rueidis.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errClosed
	}
	if cn, ok := c.byAddr[addr]; ok {
		if cn.password == password.Value() {
			return cn.client, nil
		}
		cn.client.Close()
		delete(c.byAddr, addr)
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{addr},
		Password:          password.Value(),
		DisableCache:      true, // Sentinel and Redis 7.0 replicas: no client tracking wanted
		ForceSingleClient: true, // never probe for a cluster
		DisableRetry:      true, // a write that failed is planned again from a fresh snapshot
		ClientName:        "redhook-healer",
		ClientSetInfo:     rueidis.DisableClientSetInfo, // CLIENT SETINFO is Redis ≥ 7.2
		Dialer:            net.Dialer{Timeout: c.dialTimeout, KeepAlive: 30 * time.Second},
		ConnWriteTimeout:  c.commandTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", addr, err)
	}
	c.byAddr[addr] = &conn{client: client, password: password.Value()}
	return client, nil
}

// drop closes the client of addr, e.g. after a timeout, so the next use dials afresh.
func (c *conns) drop(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn, ok := c.byAddr[addr]; ok {
		cn.client.Close()
		delete(c.byAddr, addr)
	}
}

// keepOnly closes every client whose address is not in keep.
func (c *conns) keepOnly(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, cn := range c.byAddr {
		if !keep[addr] {
			cn.client.Close()
			delete(c.byAddr, addr)
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
	return len(c.byAddr)
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
