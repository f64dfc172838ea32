package rediscluster

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// conns is one rueidis client per node address of one cluster, made on first use, closed
// when the address leaves the topology or the password changes. Clients are plain (one node,
// no cluster routing): the healer speaks to each node about itself.
type conns struct {
	dial, write time.Duration

	mu     sync.Mutex
	byAddr map[string]conn
}

type conn struct {
	password string
	client   rueidis.Client
}

func newConns(dial, write time.Duration) *conns {
	return &conns{dial: dial, write: write, byAddr: map[string]conn{}}
}

// get is the client of addr, dialled with password when there is none yet.
func (c *conns) get(addr, password string) (rueidis.Client, error) {
	c.mu.Lock()
	cn, ok := c.byAddr[addr]
	if ok && cn.password == password {
		c.mu.Unlock()
		return cn.client, nil
	}
	if ok {
		delete(c.byAddr, addr)
	}
	c.mu.Unlock()
	if ok {
		cn.client.Close()
	}
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, Password: password,
		ForceSingleClient: true, DisableCache: true, DisableRetry: true, ClientSetInfo: rueidis.DisableClientSetInfo,
		Dialer: net.Dialer{Timeout: c.dial}, ConnWriteTimeout: c.write})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if other, ok := c.byAddr[addr]; ok { // a concurrent get won
		client.Close()
		return other.client, nil
	}
	c.byAddr[addr] = conn{password: password, client: client}
	return client, nil
}

// drop closes the client of addr (a stuck connection must not stall the next pass).
func (c *conns) drop(addr string) {
	c.mu.Lock()
	cn, ok := c.byAddr[addr]
	delete(c.byAddr, addr)
	c.mu.Unlock()
	if ok {
		cn.client.Close()
	}
}

// keepOnly closes the clients of addresses not in keep.
func (c *conns) keepOnly(keep map[string]bool) {
	c.mu.Lock()
	var gone []rueidis.Client
	for addr, cn := range c.byAddr {
		if !keep[addr] {
			gone = append(gone, cn.client)
			delete(c.byAddr, addr)
		}
	}
	c.mu.Unlock()
	for _, g := range gone {
		g.Close()
	}
}

func (c *conns) closeAll() { c.keepOnly(nil) }
