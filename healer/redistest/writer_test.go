package redistest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writerTestRedis starts a redis-server on ip (a 127.0.0.x address) and returns its address;
// replicaOf, unless empty, makes it a replica of that address.
func writerTestRedis(t *testing.T, ip, replicaOf string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is missing in CI: make deps installs it")
		}
		t.Skip("redis-server not installed (make deps)")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := []string{"--bind", ip, "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--bind-source-addr", ip,
		"--protected-mode", "no", // protected mode takes only 127.0.0.1 for loopback
		"--repl-diskless-sync-delay", "0"}
	if replicaOf != "" {
		host, p, _ := net.SplitHostPort(replicaOf)
		args = append(args, "--replicaof", host, p)
	}
	cmd = exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr = net.JoinHostPort(ip, strconv.Itoa(port))
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "redis-server on %s did not start", addr)
	return addr, cmd
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
	master, _ := writerTestRedis(t, "127.0.72.1", "")
	replica, _ := writerTestRedis(t, "127.0.72.2", master)
	client := writerTestClient(t, master)
	require.Eventually(t, func() bool {
		n, err := client.Do(context.Background(), client.B().Wait().Numreplicas(1).Timeout(100).Build()).AsInt64()
		return err == nil && n == 1
	}, 10*time.Second, 50*time.Millisecond, "the replica %s never connected", replica)

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
	addr, server := writerTestRedis(t, "127.0.72.3", "")
	client := writerTestClient(t, addr)
	w, err := NewWriter(client, WriterConfig{Prefix: "b:", Timeout: 100 * time.Millisecond, Pause: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	require.Eventually(t, func() bool { return w.Counts().Unconfirmed > 10 }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, server.Process.Signal(syscall.SIGSTOP))
	stopped := time.Now()
	time.Sleep(500 * time.Millisecond)
	require.Positive(t, w.Counts().Failed, "writes to a stopped server fail at their deadline")
	_, ok := w.FirstSuccessAfter(stopped.Add(50 * time.Millisecond))
	assert.False(t, ok, "no write succeeds while the server is stopped")
	require.NoError(t, server.Process.Signal(syscall.SIGCONT))
	back, ok := w.Recovery(ctx, stopped, 10*time.Second)
	require.True(t, ok, "writes resume after SIGCONT")
	assert.GreaterOrEqual(t, back, 500*time.Millisecond)
	assert.GreaterOrEqual(t, w.LongestGap(), 450*time.Millisecond)

	// Stopped again, cancel: Run returns although the server never answers. rueidis honours the
	// request's deadline rather than the cancellation, and a reconnection to a stopped server
	// may wait for a SYN to be sent again (1 s): so the bound is a few seconds, not 100 ms.
	require.NoError(t, server.Process.Signal(syscall.SIGSTOP))
	time.Sleep(20 * time.Millisecond)
	cancelled := time.Now()
	cancel()
	wg.Wait()
	assert.Less(t, time.Since(cancelled), 3*time.Second, "Run must stop on cancel, whatever the server does")
	t.Logf("recovery after a 500 ms stop: %s; longest gap %s; %+v", back.Round(time.Millisecond),
		w.LongestGap().Round(time.Millisecond), w.Counts())
}
