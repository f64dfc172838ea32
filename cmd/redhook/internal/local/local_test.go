package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitLine returns the submatches of the first line of out matching re, waiting up to limit.
func waitLine(t *testing.T, out *redistest.SyncBuffer, re *regexp.Regexp, limit time.Duration) []string {
	t.Helper()
	var m []string
	redistest.WaitFor(t, limit, "a line matching "+re.String(), func() error {
		text := out.String()
		for _, line := range strings.Split(text, "\n") {
			if m = re.FindStringSubmatch(line); m != nil {
				return nil
			}
		}
		return fmt.Errorf("none; output:\n%s", text)
	})
	return m
}

// processesOn lists the processes whose command line mentions prefix (a base address).
func processesOn(prefix string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), prefix) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

// runUntilCleanup runs c until cancel or the end of the test; done receives Run's result (put
// it back after reading it: the cleanup reads it too).
// localRun is a redhook local started by startLocal.
type localRun struct {
	c      *Cluster
	out    *redistest.SyncBuffer
	first  int    // the claimed /24 of the redis pods; the sentinels are on first+1
	base   string // "127.0.<first>."
	dir    string // the temporary files
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error
}

// startLocal runs redhook local on the RedisFailover file rf (named name) with a master port,
// redis pods on a claimed /24 and sentinels on the next one (BaseIP+256+j), until it is Ready.
func startLocal(t *testing.T, rf, name string) localRun {
	t.Helper()
	port, err := redistest.FreePort()
	require.NoError(t, err)
	l := localRun{first: redistest.Subnets(t, 2), out: &redistest.SyncBuffer{}}
	l.base = fmt.Sprintf("127.0.%d.", l.first)
	l.c, err = New(Config{Files: []string{rf}, BaseIP: net.ParseIP(l.base + "1"), MasterPort: port,
		RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli"}, l.out, zerolog.Nop())
	require.NoError(t, err)
	l.ctx, l.cancel, l.done = runUntilCleanup(t, l.c)
	l.dir = waitLine(t, l.out, regexp.MustCompile(`files in (\S+)`), 10*time.Second)[1]
	waitLine(t, l.out, regexp.MustCompile(name+` master=\S+ .*Ready=True `), 60*time.Second)
	return l
}

// killMaster sends SIGKILL to the redis process of the master the status line of the
// RedisFailover name shows, and returns that pod and when it was killed.
func (l localRun) killMaster(t *testing.T, name string) (master string, killed time.Time) {
	t.Helper()
	master = waitLine(t, l.out, regexp.MustCompile(name+` master=(rfr-`+name+`-\d)\(`), time.Second)[1]
	pid, err := os.ReadFile(filepath.Join(l.dir, master, "process.pid"))
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	require.NoError(t, err)
	killed = time.Now()
	require.NoError(t, syscall.Kill(n, syscall.SIGKILL))
	return master, killed
}

func runUntilCleanup(t *testing.T, c *Cluster) (ctx context.Context, cancel context.CancelFunc, done chan error) {
	ctx, cancel = context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- c.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ctx, cancel, done
}

func writeRF(t *testing.T, yaml string) string {
	t.Helper()
	rf := filepath.Join(t.TempDir(), "rf.yaml")
	require.NoError(t, os.WriteFile(rf, []byte(yaml), 0o600))
	return rf
}

// TestLocalEndToEnd: a local RedisFailover converges, takes writes through Sentinel and through
// the master port, survives a SIGKILLed master, and leaves no process and no file behind when
// its context ends. It runs in this process, so that `go test -race` covers the runner (its
// processes, probes, forwarder and status loop) while it works.
func TestLocalEndToEnd(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli") // the sentinels are redis-server --sentinel
	rf := writeRF(t, `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: e2e}
spec:
  sentinel:
    customConfig: ["down-after-milliseconds 2000"]
`)
	l := startLocal(t, rf, "e2e")
	c, out, first, base, ctx, cancel, done, dir := l.c, l.out, l.first, l.base, l.ctx, l.cancel, l.done, l.dir

	client, err := redistest.NewSentinelClient([]string{fmt.Sprintf("127.0.%d.1:26379", first+1)}, "mymaster", "", "")
	require.NoError(t, err)
	defer client.Close()
	portClient, err := c.MasterPortClient(time.Second)
	require.NoError(t, err)
	defer portClient.Close()
	set := func(client rueidis.Client, key string) error {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		return client.Do(cctx, client.B().Set().Key(key).Value("1").Build()).Error()
	}
	require.NoError(t, set(client, "via-sentinel"))
	require.NoError(t, set(portClient, "via-port"))
	// Confirmed by a replica (WAIT 1), as clients that must not lose a write do: an
	// acknowledged but unconfirmed write can die with the master that a SIGKILL stops
	// (seen under load: the replicas' offsets had not moved).
	for _, c := range []rueidis.Client{client, portClient} {
		n, err := c.Do(ctx, c.B().Wait().Numreplicas(1).Timeout(2000).Build()).AsInt64()
		require.NoError(t, err)
		require.EqualValues(t, 1, min(n, 1), "no replica confirmed the writes before the kill")
	}

	master, killed := l.killMaster(t, "e2e")

	// Writes resume through Sentinel and through the master port.
	require.Eventually(t, func() bool { return set(client, "after-kill") == nil }, 30*time.Second, 100*time.Millisecond,
		"no write through Sentinel after the master was killed; output:\n%s", out)
	sentinelBack := time.Since(killed)
	require.Eventually(t, func() bool { return set(portClient, "after-kill-port") == nil },
		30*time.Second, 100*time.Millisecond, "no write through the master port after the master was killed")
	t.Logf("after SIGKILL of %s: Sentinel writes again after %s, master port after %s", master,
		sentinelBack.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	v, err := client.Do(ctx, client.B().Get().Key("via-sentinel").Build()).ToString()
	require.NoError(t, err)
	assert.Equal(t, "1", v, "a write confirmed before the kill was lost")
	waitLine(t, out, regexp.MustCompile(`e2e master=(rfr-e2e-\d)\(.*redis=3/3 .*Ready=True `), 60*time.Second)

	// The end of the context (Ctrl-C): every process stops, the temporary directory is gone.
	cancel()
	select {
	case err := <-done:
		done <- err // for the cleanup
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the local RedisFailover did not stop within 30 s of the end of its context")
	}
	assert.Empty(t, processesOn(base), "processes left behind")
	assert.Empty(t, processesOn(fmt.Sprintf("127.0.%d.", first+1)), "sentinels left behind")
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "temporary directory %s left behind", dir)
}

// TestPodsAreSafeToUseWhileStarting: the probes, the chaos monkey and the benchmark use a pod's
// process from other goroutines as soon as the processes start; under -race this fails when the
// process handles are set by the goroutine that starts them.
func TestPodsAreSafeToUseWhileStarting(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli") // the sentinels are redis-server --sentinel
	rf := writeRF(t, "apiVersion: databases.spotahome.com/v1\nkind: RedisFailover\nmetadata: {name: start}\n")
	first := redistest.Subnets(t, 2)
	c, err := New(Config{Files: []string{rf}, BaseIP: net.ParseIP(fmt.Sprintf("127.0.%d.1", first)), RestartDelay: time.Second,
		RedisServer: "redis-server", RedisCli: "redis-cli"}, io.Discard, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(c.cleanup)
	_, err = c.sync() // renders the files the processes read
	require.NoError(t, err)
	stop := c.startProcesses()
	defer stop()
	for _, p := range append(c.Redis(), c.Sentinels()...) {
		p.Release() // what bench-failover does after a run; reads the process handle
	}
	c.probeAll(context.Background())
}

// TestLocalSentinelless: with spec.sentinel.enabled: false no sentinel runs, the healer fails
// over by itself, and the master port follows the promoted node: a write confirmed by WAIT 1
// before the master is SIGKILLed is read back through the port afterwards.
func TestLocalSentinelless(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli")
	rf := writeRF(t, `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: sl}
spec:
  sentinel: {enabled: false}
`)
	l := startLocal(t, rf, "sl")
	c, out, first, ctx := l.c, l.out, l.first, l.ctx
	assert.Empty(t, c.Sentinels(), "no sentinel pods")
	assert.Empty(t, processesOn(fmt.Sprintf("127.0.%d.", first+1)), "no sentinel processes")

	portClient, err := c.MasterPortClient(time.Second)
	require.NoError(t, err)
	defer portClient.Close()
	confirmed := func(key string) error {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := portClient.Do(cctx, portClient.B().Set().Key(key).Value("1").Build()).Error(); err != nil {
			return err
		}
		n, err := portClient.Do(cctx, portClient.B().Wait().Numreplicas(1).Timeout(500).Build()).AsInt64()
		if err == nil && n < 1 {
			err = fmt.Errorf("WAIT 1: %d replicas", n)
		}
		return err
	}
	require.Eventually(t, func() bool { return confirmed("before-kill") == nil }, 30*time.Second, 100*time.Millisecond,
		"no confirmed write through the master port")

	master, killed := l.killMaster(t, "sl")
	require.Eventually(t, func() bool { return confirmed("after-kill") == nil }, 30*time.Second, 50*time.Millisecond,
		"no confirmed write through the master port after the master was killed; output:\n%s", out)
	t.Logf("after SIGKILL of %s: the master port takes confirmed writes again after %s", master,
		time.Since(killed).Round(time.Millisecond))
	v, err := portClient.Do(ctx, portClient.B().Get().Key("before-kill").Build()).ToString()
	require.NoError(t, err)
	assert.Equal(t, "1", v, "a write confirmed before the kill was lost")
	waitLine(t, out, regexp.MustCompile(`sl master=(rfr-sl-\d)\(.*redis=3/3 .*Ready=True `), 60*time.Second)
}
