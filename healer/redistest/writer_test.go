package redistest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writerTestRedis starts a redis-server named name on 127.0.<subnet>.<host>:6379 and returns it;
// replicaOf, unless nil, makes it a replica of that process.
func writerTestRedis(t *testing.T, subnet, host int, name string, replicaOf *Proc) *Proc {
	t.Helper()
	p := NewProc(t, RedisServer, name, fmt.Sprintf("127.0.%d.%d", subnet, host), 6379)
	if replicaOf != nil {
		p.Conf += fmt.Sprintf("replicaof %s %d\n", replicaOf.IP, replicaOf.Port)
	}
	p.Start()
	return p
}

// writerTestClient is a plain client of one address.
func writerTestClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true,
		DisableCache: true, Dialer: net.Dialer{Timeout: 250 * time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// run runs w for d and waits for it to stop.
func writerTestRun(w *Writer, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	w.Run(ctx)
}

// TestWriterConfirmsAndFindsLostKeys: with a replica, SET + WAIT 1 writes are confirmed and all
// readable; a confirmed key deleted afterwards is reported lost, and so is a deleted
// unconfirmed key of a writer without WAIT.
func TestWriterConfirmsAndFindsLostKeys(t *testing.T) {
	subnet := Subnet(t)
	master := writerTestRedis(t, subnet, 1, "master", nil)
	replica := writerTestRedis(t, subnet, 2, "replica", master)
	client := writerTestClient(t, master.Addr())
	require.Eventually(t, func() bool {
		n, err := client.Do(context.Background(), client.B().Wait().Numreplicas(1).Timeout(100).Build()).AsInt64()
		return err == nil && n == 1
	}, 10*time.Second, 50*time.Millisecond, "the replica %s never connected", replica.Addr())

	w, err := NewWriter(client, WriterConfig{Prefix: "w:", Wait: 200 * time.Millisecond, Timeout: time.Second,
		Pause: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	// The replica may still be loading its first copy: the first writes may go unconfirmed.
	assert.Eventually(t, func() bool { return w.Counts().Confirmed >= 20 }, 10*time.Second, 10*time.Millisecond,
		"writes confirmed by the replica")
	cancel()
	wg.Wait()
	c := w.Counts()
	require.Positive(t, c.Confirmed)
	assert.LessOrEqual(t, c.Failed, 1, "only the write cut short by the end of Run may fail")
	assert.Equal(t, c.Written, c.Confirmed+c.Unconfirmed+c.Failed)
	assert.Len(t, w.Keys(Confirmed), c.Confirmed)
	loss, err := w.Verify(context.Background(), client)
	require.NoError(t, err)
	assert.Empty(t, loss.Confirmed)
	assert.Empty(t, loss.Unconfirmed)

	gone := w.Keys(Confirmed)[c.Confirmed/2]
	require.NoError(t, client.Do(context.Background(), client.B().Del().Key(gone).Build()).Error())
	loss, err = w.Verify(context.Background(), client)
	require.NoError(t, err)
	assert.Equal(t, []string{gone}, loss.Confirmed, "a confirmed key that is gone is lost")

	plain, err := NewWriter(client, WriterConfig{Prefix: "plain:"})
	require.NoError(t, err)
	writerTestRun(plain, 100*time.Millisecond)
	pc := plain.Counts()
	assert.Zero(t, pc.Confirmed, "without WAIT no write is confirmed")
	require.Positive(t, pc.Unconfirmed)
	gone = plain.Keys(Unconfirmed)[0]
	require.NoError(t, client.Do(context.Background(), client.B().Del().Key(gone).Build()).Error())
	loss, err = plain.Verify(context.Background(), client)
	require.NoError(t, err)
	assert.Equal(t, []string{gone}, loss.Unconfirmed)
	assert.Empty(t, loss.Confirmed)
}

// TestWriterIsBoundedAndMeasuresRecovery: while the server is stopped (SIGSTOP: connections
// hang, nothing answers) every write fails at its deadline and Run still returns promptly when
// its context ends; after SIGCONT, Recovery and LongestGap see the outage.
func TestWriterIsBoundedAndMeasuresRecovery(t *testing.T) {
	server := writerTestRedis(t, Subnet(t), 1, "server", nil)
	client := writerTestClient(t, server.Addr())
	w, err := NewWriter(client, WriterConfig{Prefix: "b:", Timeout: 100 * time.Millisecond, Pause: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	require.Eventually(t, func() bool { return w.Counts().Unconfirmed > 10 }, 5*time.Second, 10*time.Millisecond)
	server.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	time.Sleep(500 * time.Millisecond)
	require.Positive(t, w.Counts().Failed, "writes to a stopped server fail at their deadline")
	_, ok := w.FirstSuccessAfter(stopped.Add(50 * time.Millisecond))
	assert.False(t, ok, "no write succeeds while the server is stopped")
	server.Signal(syscall.SIGCONT)
	back, ok := w.Recovery(ctx, stopped, 10*time.Second)
	require.True(t, ok, "writes resume after SIGCONT")
	assert.GreaterOrEqual(t, back, 500*time.Millisecond)
	assert.GreaterOrEqual(t, w.LongestGap(), 450*time.Millisecond)

	// Stopped again, cancel: Run returns although the server never answers. rueidis honours the
	// request's deadline rather than the cancellation, and a reconnection to a stopped server
	// may wait for a SYN to be sent again (1 s): so the bound is a few seconds, not 100 ms.
	server.Signal(syscall.SIGSTOP)
	time.Sleep(20 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	wg.Wait()
	assert.Less(t, time.Since(cancelled), 3*time.Second, "Run must stop on cancel, whatever the server does")
	t.Logf("recovery after a 500 ms stop: %s; longest gap %s; %+v", back.Round(time.Millisecond),
		w.LongestGap().Round(time.Millisecond), w.Counts())
}

// TestWriterSizeAndCount: Count stops Run after that many writes, Size pads the values, and
// Verify reads the padded values back.
func TestWriterSizeAndCount(t *testing.T) {
	server := writerTestRedis(t, Subnet(t), 1, "server", nil)
	client := writerTestClient(t, server.Addr())
	w, err := NewWriter(client, WriterConfig{Prefix: "big:", Size: 1000, Count: 7, Pause: time.Millisecond})
	require.NoError(t, err)
	w.Run(context.Background()) // returns after 7 writes
	c := w.Counts()
	require.Equal(t, Counts{Written: 7, Unconfirmed: 7}, c)
	v, err := client.Do(context.Background(), client.B().Get().Key("big:3").Build()).ToString()
	require.NoError(t, err)
	assert.Len(t, v, 1000)
	assert.Equal(t, "big:3xxx", v[:8])
	loss, err := w.Verify(context.Background(), client)
	require.NoError(t, err)
	assert.Empty(t, loss.Unconfirmed)
	require.NoError(t, client.Do(context.Background(), client.B().Set().Key("big:5").Value("big:5").Build()).Error())
	loss, err = w.Verify(context.Background(), client)
	require.NoError(t, err)
	assert.Equal(t, []string{"big:5"}, loss.Unconfirmed, "a value that is not the padded key is lost")
	_, err = NewWriter(client, WriterConfig{Count: -1})
	assert.Error(t, err)
}
