package healer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dialer is the dial of conns for these tests: a dial to a blackholed address waits until its
// context ends, as a dial to a dropped pod IP waits for the dial timeout; the others are real
// (rueidis.NewClient), their clients wrapped to count Close. It counts the dials per address.
type dialer struct {
	mu        sync.Mutex
	blackhole map[string]bool
	dials     map[string]int
	started   chan string // every dial's address, as it starts
	closes    atomic.Int32
	clients   atomic.Int32 // real clients made, with or without an error
}

func newDialer(blackhole ...string) *dialer {
	d := &dialer{blackhole: map[string]bool{}, dials: map[string]int{}, started: make(chan string, 16)}
	for _, a := range blackhole {
		d.blackhole[a] = true
	}
	return d
}

func (d *dialer) dial(ctx context.Context, opt rueidis.ClientOption) (rueidis.Client, error) {
	addr := opt.InitAddress[0]
	d.mu.Lock()
	d.dials[addr]++
	blocked := d.blackhole[addr]
	d.mu.Unlock()
	d.started <- addr
	if blocked {
		<-ctx.Done()
		return nil, fmt.Errorf("dial tcp %s: %w", addr, ctx.Err())
	}
	client, err := rueidis.NewClient(opt)
	if client == nil {
		return nil, err
	}
	d.clients.Add(1)
	return closeCounter{Client: client, closes: &d.closes}, err
}

func (d *dialer) count(addr string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dials[addr]
}

func (d *dialer) unblock(addr string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.blackhole, addr)
}

// closeCounter is a real rueidis client that counts its Close calls.
type closeCounter struct {
	rueidis.Client
	closes *atomic.Int32
}

func (c closeCounter) Close() {
	c.closes.Add(1)
	c.Client.Close()
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

// TestConnsBlackholedPod: a pod that does not answer costs one dial timeout, to its own reads
// only, once per failFor.
func TestConnsBlackholedPod(t *testing.T) {
	cl := redistest.NewCluster(t, "conns", redistest.Options{Redis: 1})
	live := cl.Redis[0].Addr()
	dead := fmt.Sprintf("127.0.%d.250:6379", cl.Subnet) // nothing listens: refused once unblocked
	const dialTimeout = 2 * time.Second
	c := newConns(dialTimeout, time.Second, time.Second)
	require.Equal(t, time.Second, c.failFor, "min(1 s, min backoff)")
	d := newDialer(dead)
	c.dial = d.dial
	defer c.closeAll()

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { _, errs[i] = c.get(dead, hooks.Secret{}) })
	}
	require.Equal(t, dead, <-d.started)

	// (a) Another pod is dialled while the dead one's dial waits.
	var client rueidis.Client
	var err error
	took := timed(func() { client, err = c.get(live, hooks.Secret{}) })
	require.NoError(t, err)
	assert.Less(t, took, dialTimeout/2, "the live pod waited for the dead one's dial")
	assert.NoError(t, client.Do(context.Background(), client.B().Ping().Build()).Error())

	// Both gets of the dead pod share its one dial and its error.
	wg.Wait()
	require.Error(t, errs[0])
	assert.Equal(t, errs[0], errs[1])
	assert.ErrorIs(t, errs[0], context.DeadlineExceeded)
	assert.Contains(t, errs[0].Error(), "connect "+dead+": ")
	assert.Equal(t, 1, d.count(dead), "one dial per address at a time")

	// (b) The failure is remembered: at once, without dialling.
	took = timed(func() { _, err = c.get(dead, hooks.Secret{}) })
	assert.Equal(t, errs[0], err)
	assert.Less(t, took, dialTimeout/4)
	assert.Equal(t, 1, d.count(dead), "a just-failed address is not dialled again")

	// ...but not for longer than failFor: a pod that came back is dialled at the next pass.
	d.unblock(dead)
	time.Sleep(c.failFor)
	_, err = c.get(dead, hooks.Secret{})
	assert.ErrorContains(t, err, "refused")
	assert.Equal(t, 2, d.count(dead))
	assert.Equal(t, 1, d.count(live))
	assert.Equal(t, 1, c.len(), "only the live pod's client is open")
}

// TestConnsClosesClientReturnedWithError: rueidis (ForceSingleClient) returns a client along
// with a failed dial; conns closes it instead of dropping it.
func TestConnsClosesClientReturnedWithError(t *testing.T) {
	cl := redistest.NewCluster(t, "connsauth", redistest.Options{Redis: 1, Password: "right"})
	addr := cl.Redis[0].Addr()
	c := newConns(time.Second, time.Second, 500*time.Millisecond)
	d := newDialer()
	c.dial = d.dial

	_, err := c.get(addr, hooks.NewSecret("wrong"))
	require.Error(t, err)
	require.Equal(t, int32(1), d.clients.Load(), "rueidis returned a client with the error")
	assert.ErrorContains(t, err, "WRONGPASS")
	assert.Equal(t, int32(1), d.closes.Load(), "the client returned with the error is closed")
	assert.Zero(t, c.len())

	// The right password is a new dial (not the remembered failure), and its client stays open
	// until the connections are closed.
	client, err := c.get(addr, hooks.NewSecret("right"))
	require.NoError(t, err)
	assert.NoError(t, client.Do(context.Background(), client.B().Ping().Build()).Error())
	assert.Equal(t, 2, d.count(addr))
	assert.Equal(t, int32(1), d.closes.Load())
	c.closeAll()
	assert.Equal(t, int32(2), d.closes.Load())
}

// Sentinel ends every normal client of a replica it promotes (CLIENT KILL TYPE normal), the
// healer's connection too: the observe of that moment reads the node again on a new connection
// instead of reporting it unreachable (the master EndpointSlice would be emptied for a pass).
func TestObserveAfterClientKill(t *testing.T) {
	c := redistest.NewCluster(t, "killed", redistest.Options{Redis: 1, Sentinels: 0})
	tp := topology(c)
	tp.SentinelsEnabled = false
	conns := newConns(time.Second, time.Second, time.Second)
	defer conns.closeAll()
	n := observeRedis(t.Context(), tp, conns, tp.Redis[0], nil)
	require.True(t, n.Reachable(), n.Err)
	killed, err := c.Redis[0].Do("CLIENT", "KILL", "TYPE", "normal").AsInt64()
	require.NoError(t, err)
	require.GreaterOrEqual(t, killed, int64(1), "the healer's connection is killed")
	n = observeRedis(t.Context(), tp, conns, tp.Redis[0], nil)
	assert.True(t, n.Reachable(), "read again after the kill: %s", n.Err)
}
