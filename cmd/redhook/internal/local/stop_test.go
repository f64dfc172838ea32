package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/redistest"
)

// TestPlannedStopLosesNothing: stopping the master's pod as a kubelet does (the rendered preStop
// script, then SIGTERM) hands over to a replica without losing a write, confirmed or not, under
// a SET + WAIT 1 writer through Sentinel and one through the master port; Sentinel names the new
// master before the old process stops, and the old master comes back as a replica. Both with and
// without auth (the script talks to redis with REDISCLI_AUTH, to the sentinels without it).
func TestPlannedStopLosesNothing(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli")
	for _, tc := range []struct {
		name, yaml, password string
	}{
		{"no auth", `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: stop}
spec:
  sentinel:
    customConfig: ["down-after-milliseconds 2000"]
`, ""},
		{"auth", `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: stop}
spec:
  auth: {secretPath: stop-auth}
  sentinel:
    customConfig: ["down-after-milliseconds 2000"]
---
apiVersion: v1
kind: Secret
metadata: {name: stop-auth}
stringData: {password: "s3cr3t pass"}
`, "s3cr3t pass"},
	} {
		t.Run(tc.name, func(t *testing.T) { plannedStop(t, tc.yaml, tc.password) })
	}
}

func plannedStop(t *testing.T, yaml, password string) {
	port, err := redistest.FreePort()
	require.NoError(t, err)
	first := redistest.Subnets(t, 2)
	out := &redistest.SyncBuffer{}
	logs := redistest.CaptureLog(t, "redhook")
	c, err := New(Config{Files: []string{writeRF(t, yaml)}, BaseIP: net.ParseIP(fmt.Sprintf("127.0.%d.1", first)),
		MasterPort: port, RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli"}, out, zerolog.New(logs))
	require.NoError(t, err)
	ctx, _, _ := runUntilCleanup(t, c)
	require.True(t, c.WaitReady(ctx, true, time.Minute), "not Ready within a minute; output:\n%s", out)
	require.Equal(t, c.password, password)

	viaSentinel, err := c.SentinelClient()
	require.NoError(t, err)
	defer viaSentinel.Close()
	viaPort, err := c.MasterPortClient(time.Second)
	require.NoError(t, err)
	defer viaPort.Close()
	cfg := redistest.WriterConfig{Wait: 500 * time.Millisecond, Timeout: time.Second}
	cfg.Prefix = "sentinel-"
	ws, err := redistest.NewWriter(viaSentinel, cfg)
	require.NoError(t, err)
	cfg.Prefix = "port-"
	wp, err := redistest.NewWriter(viaPort, cfg)
	require.NoError(t, err)
	wctx, stopWriters := context.WithCancel(ctx)
	writing := make(chan struct{}, 2)
	go func() { ws.Run(wctx); writing <- struct{}{} }()
	go func() { wp.Run(wctx); writing <- struct{}{} }()
	time.Sleep(time.Second)

	// The hook re-points the other replica before it closes the old master's listener: that one
	// follows the new master already, not only when Sentinel gets to it (up to a second later).
	old := c.Master()
	require.NotNil(t, old, "no master to stop")
	othersFollow := followersAtClose(ctx, t, c, old, password)
	hookOut, start, hookTook := stopMaster(ctx, t, c, old)
	m := regexp.MustCompile(`new master: (\S+) (\d+)`).FindStringSubmatch(hookOut)
	require.NotNil(t, m, "the preStop did not hand over; output:\n%s", hookOut)
	othersFollow(m[1])
	// The hook returned once a replica was master; Sentinel names it when its failover ends.
	redistest.WaitFor(t, 15*time.Second, "Sentinel names another master than "+old.Addr(), func() error {
		addr, err := sentinelMaster(ctx, c)
		if err == nil && addr == old.Addr() {
			err = fmt.Errorf("it names %s", addr)
		}
		return err
	})
	sentinelTook := time.Since(start)

	// The old master comes back (restarted after the restart delay) as a replica, and the
	// RedisFailover is Ready again.
	waitReplicaAndReady(ctx, t, c, old, password)
	time.Sleep(time.Second)
	stopWriters()
	<-writing
	<-writing
	// Read back through a new Sentinel client: the writer's own may still follow the old master
	// (seen under load: its writes were refused by the old address to the end, and the old
	// master's restarted process, not yet re-pointed, answered its reads empty).
	reader, err := c.SentinelClient()
	require.NoError(t, err)
	defer reader.Close()
	for _, x := range []struct {
		name string
		w    *redistest.Writer
	}{{"Sentinel", ws}, {"master port", wp}} {
		loss, err := x.w.Verify(ctx, reader)
		require.NoError(t, err)
		counts := x.w.Counts()
		t.Logf("through %s: %+v, longest write gap %v; preStop took %v, Sentinel named the new master after %v",
			x.name, counts, x.w.LongestGap().Round(time.Millisecond), hookTook.Round(time.Millisecond), sentinelTook.Round(time.Millisecond))
		lost := !assert.Empty(t, loss.Confirmed, "confirmed writes through %s lost", x.name)
		lost = !assert.Empty(t, loss.Unconfirmed, "acknowledged (unconfirmed) writes through %s lost", x.name) || lost
		assert.Positive(t, counts.Confirmed, "no write confirmed through %s", x.name)
		if lost {
			t.Logf("%s writer's errors: %v", x.name, x.w.Errors(time.Time{}))
			logNodes(ctx, t, c, password)
		}
	}
}

// logNodes logs what each redis pod holds and whom it follows, to tell a loss on the servers
// from a read on the wrong node.
func logNodes(ctx context.Context, t *testing.T, c *Cluster, password string) {
	for _, p := range c.Redis() {
		cl, err := redistest.NewClient(p.Addr(), password)
		if err != nil {
			t.Logf("%s: %v", p.Name(), err)
			continue
		}
		role, _ := cl.Do(ctx, cl.B().Arbitrary("ROLE").Build()).ToAny()
		size, err := cl.Do(ctx, cl.B().Dbsize().Build()).AsInt64()
		cl.Close()
		t.Logf("%s (%s): ROLE %v, DBSIZE %d (%v)", p.Name(), p.Addr(), role, size, err)
	}
	if addr, err := sentinelMaster(ctx, c); err == nil {
		t.Logf("the first sentinel names %s", addr)
	}
}

// sentinelMaster is the master address the first sentinel names.
func sentinelMaster(ctx context.Context, c *Cluster) (string, error) {
	s := c.Sentinels()[0]
	password := ""
	if c.parent.WithDefaults().Spec.Auth.Sentinel {
		password = c.password
	}
	cl, err := redistest.NewClient(s.Addr(), password)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	a, err := cl.Do(ctx, cl.B().SentinelGetMasterAddrByName().Master(c.parent.WithDefaults().Spec.Sentinel.MasterName).Build()).AsStrSlice()
	if err != nil {
		return "", err
	}
	if len(a) != 2 {
		return "", fmt.Errorf("get-master-addr-by-name: %q", a)
	}
	return net.JoinHostPort(a[0], a[1]), nil
}

// TestPlannedStopSentinelless: in sentinel-less mode too, stopping the master's pod as a kubelet
// does hands over to a replica (the preStop script pauses writes, lets the replicas catch up,
// promotes one with REPLICAOF NO ONE and follows it) without losing a write, confirmed or not,
// under a SET + WAIT 1 writer through the master port; the old master comes back as a replica.
func TestPlannedStopSentinelless(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli")
	port, err := redistest.FreePort()
	require.NoError(t, err)
	first := redistest.Subnets(t, 2)
	out := &redistest.SyncBuffer{}
	logs := redistest.CaptureLog(t, "redhook")
	c, err := New(Config{Files: []string{writeRF(t, `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: slstop}
spec:
  sentinel: {enabled: false}
`)}, BaseIP: net.ParseIP(fmt.Sprintf("127.0.%d.1", first)), MasterPort: port, RestartDelay: time.Second,
		RedisServer: "redis-server", RedisCli: "redis-cli"}, out, zerolog.New(logs))
	require.NoError(t, err)
	ctx, _, _ := runUntilCleanup(t, c)
	require.True(t, c.WaitReady(ctx, true, time.Minute), "not Ready within a minute; output:\n%s", out)
	viaPort, err := c.MasterPortClient(time.Second)
	require.NoError(t, err)
	defer viaPort.Close()
	w, err := redistest.NewWriter(viaPort, redistest.WriterConfig{Prefix: "port-", Wait: 500 * time.Millisecond, Timeout: time.Second})
	require.NoError(t, err)
	wctx, stopWriter := context.WithCancel(ctx)
	writing := make(chan struct{})
	go func() { w.Run(wctx); close(writing) }()
	time.Sleep(time.Second)

	// The hook promotes a replica, then re-points the other one before it closes the old master's
	// listener: with no Sentinel, nothing else would until the healer's next pass.
	old := c.Master()
	require.NotNil(t, old, "no master to stop")
	othersFollow := followersAtClose(ctx, t, c, old, "")
	hookOut, start, hookTook := stopMaster(ctx, t, c, old)
	m := regexp.MustCompile(`REPLICAOF NO ONE on (\S+):\d+: OK`).FindStringSubmatch(hookOut)
	require.NotNil(t, m, "the preStop did not promote a replica; output:\n%s", hookOut)
	othersFollow(m[1])
	waitReplicaAndReady(ctx, t, c, old, "")
	time.Sleep(time.Second)
	stopWriter()
	<-writing
	loss, err := w.Verify(ctx, viaPort)
	require.NoError(t, err)
	counts := w.Counts()
	t.Logf("through the master port: %+v, longest write gap %v; preStop took %v; errors %v", counts,
		w.LongestGap().Round(time.Millisecond), hookTook.Round(time.Millisecond), w.Errors(start))
	assert.Empty(t, loss.Confirmed, "confirmed writes lost")
	assert.Empty(t, loss.Unconfirmed, "acknowledged (unconfirmed) writes lost")
	assert.Positive(t, counts.Confirmed)
}

// masterHost finds the master a replica follows in its INFO replication.
var masterHost = regexp.MustCompile(`master_host:(\S+)`)

// followersAtClose watches old, the master about to be stopped, and reads whom every other redis
// pod follows at the moment old's listener closes: the preStop's stop, right after its repoint.
// Read any later (when the preStop returns, after its linger), Sentinel or the healer would have
// re-pointed them anyway, and a hook that did not could pass. check waits for that moment and
// asserts that every pod but old and the new master at newIP is a replica of newIP.
func followersAtClose(ctx context.Context, t *testing.T, c *Cluster, old *Pod,
	password string) (check func(newIP string)) {
	t.Helper()
	// Connected before the watch, and read all at once: within milliseconds of the close.
	clients := map[*Pod]rueidis.Client{}
	for _, p := range c.Redis() {
		if p == old {
			continue
		}
		cl, err := redistest.NewClient(p.Addr(), password)
		require.NoError(t, err)
		t.Cleanup(cl.Close)
		clients[p] = cl
	}
	watchCtx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	followed := map[*Pod]string{} // master_host, or "role:master" when not a replica
	var watchErr error
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		deadline := time.Now().Add(time.Minute)
		for {
			conn, err := net.DialTimeout("tcp", old.Addr(), 100*time.Millisecond)
			if errors.Is(err, syscall.ECONNREFUSED) {
				break // closed: read the others now, before anything else re-points them
			}
			if err == nil {
				conn.Close()
			}
			if watchCtx.Err() != nil || time.Now().After(deadline) {
				watchErr = fmt.Errorf("%s did not close its listener within a minute (last dial: %v)",
					old.Name(), err)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		var wg sync.WaitGroup
		for p, cl := range clients {
			wg.Go(func() {
				info, err := cl.Do(watchCtx, cl.B().Info().Section("replication").Build()).ToString()
				if err != nil { // closed meanwhile (a failover's CLIENT KILL): once more, reconnected
					info, err = cl.Do(watchCtx, cl.B().Info().Section("replication").Build()).ToString()
				}
				host := "role:master"
				if m := masterHost.FindStringSubmatch(info); m != nil {
					host = m[1]
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					watchErr = fmt.Errorf("%s: %w", p.Name(), err)
				}
				followed[p] = host
			})
		}
		wg.Wait()
	}()
	return func(newIP string) {
		t.Helper()
		<-done
		require.NoError(t, watchErr)
		others := 0
		for p := range clients {
			if p.ip == newIP {
				continue
			}
			others++
			assert.Equal(t, newIP, followed[p], "whom %s follows when %s closed its listener",
				p.Name(), old.Name())
		}
		assert.Positive(t, others, "no other replica to follow the new master")
	}
}

// stopMaster stops old, the master, as a pod deletion would: its preStop hook, then SIGTERM. It
// returns the hook's output, when the stop began and how long the hook took.
func stopMaster(ctx context.Context, t *testing.T, c *Cluster,
	old *Pod) (hookOut string, start time.Time, took time.Duration) {
	t.Helper()
	start = time.Now()
	out, err := c.Stop(ctx, old)
	took = time.Since(start)
	t.Logf("preStop of %s:\n%s", old.Name(), out)
	require.NoError(t, err, "preStop output:\n%s", out)
	return string(out), start, took
}

// waitReplicaAndReady waits until old, the stopped master (restarted after the restart delay),
// answers as a replica and the RedisFailover is Ready again.
func waitReplicaAndReady(ctx context.Context, t *testing.T, c *Cluster, old *Pod, password string) {
	t.Helper()
	redistest.WaitFor(t, time.Minute, old.Name()+" a replica and Ready", func() error {
		cl, err := redistest.NewClient(old.Addr(), password)
		if err != nil {
			return err
		}
		defer cl.Close()
		role, err := cl.Do(ctx, cl.B().Role().Build()).ToArray()
		if err != nil {
			return err
		}
		if r, _ := role[0].ToString(); r != "slave" {
			return fmt.Errorf("role %s", r)
		}
		if !c.WaitReady(ctx, true, 100*time.Millisecond) {
			return fmt.Errorf("not Ready")
		}
		return nil
	})
}
