package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	_ TB = (*testing.T)(nil)
	_ TB = (*testing.B)(nil)
)

// recorder is a hand-written TB that records what a helper did instead of stopping a test, to
// observe Fatalf against Skipf. It is not a stand-in for Redis: nothing here mocks a process.
type recorder struct {
	mu       sync.Mutex
	fatals   []string
	skips    []string
	logs     []string
	cleanups []func()
	dir      string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
}
func (r *recorder) Skipf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skips = append(r.skips, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}
func (r *recorder) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}
func (r *recorder) TempDir() string { return r.dir }
func (r *recorder) Name() string    { return "recorder" }
func (r *recorder) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.fatals) > 0
}

// runCleanups runs the recorded cleanups last-in first-out, as testing does.
func (r *recorder) runCleanups() {
	r.mu.Lock()
	fs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func TestRequireFailsInCI(t *testing.T) {
	const missing = "redhook-no-such-binary"
	t.Setenv("CI", "true")
	r := &recorder{}
	Require(r, "sh", missing)
	assert.Empty(t, r.skips, "a missing binary must not skip in CI")
	require.Len(t, r.fatals, 1)
	assert.Contains(t, r.fatals[0], missing)

	t.Setenv("CI", "")
	r = &recorder{}
	Require(r, missing)
	assert.Empty(t, r.fatals, "outside CI a missing binary skips")
	require.Len(t, r.skips, 1)
	assert.Contains(t, r.skips[0], missing)

	r = &recorder{}
	Require(r, "sh")
	assert.Empty(t, r.fatals)
	assert.Empty(t, r.skips)
}

func TestWaitFor(t *testing.T) {
	r := &recorder{}
	n := 0
	took := WaitFor(r, time.Second, "third call", func() error {
		if n++; n < 3 {
			return fmt.Errorf("call %d", n)
		}
		return nil
	})
	assert.Empty(t, r.fatals)
	assert.Equal(t, 3, n)
	assert.Greater(t, took, time.Duration(0))

	WaitFor(r, 100*time.Millisecond, "never", func() error { return errors.New("still not") })
	require.Len(t, r.fatals, 1)
	assert.Contains(t, r.fatals[0], "never")
	assert.Contains(t, r.fatals[0], "still not", "the last error is in the failure")
}

// held tells whether subnet s's lock is taken, as another test process would find it.
func held(t *testing.T, s int) bool {
	t.Helper()
	f, err := claim(s)
	require.NoError(t, err)
	if f == nil {
		return true
	}
	f.Close()
	return false
}

func TestSubnet(t *testing.T) {
	// Two claimants at once, each with its own TB: distinct subnets, both held (by flock, so
	// for another process too) until their cleanups run.
	a, b := &recorder{}, &recorder{}
	got := make([]int, 2)
	var wg sync.WaitGroup
	for i, r := range []*recorder{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = Subnet(r)
		}()
	}
	wg.Wait()
	require.Empty(t, a.fatals)
	require.Empty(t, b.fatals)
	assert.NotEqual(t, got[0], got[1])
	for _, s := range got {
		assert.True(t, s >= firstSubnet && s <= lastSubnet, "subnet %d", s)
		assert.True(t, held(t, s), "subnet %d not held while its test runs", s)
	}
	a.runCleanups()
	assert.False(t, held(t, got[0]), "subnet %d still held after its cleanup", got[0])
	assert.True(t, held(t, got[1]), "the other claimant's subnet was released with the first")
	b.runCleanups()
	assert.False(t, held(t, got[1]))

	// With a real test: released when the subtest ends.
	var s int
	t.Run("claim", func(t *testing.T) {
		s = Subnet(t)
		assert.True(t, held(t, s))
	})
	assert.False(t, held(t, s), "subnet %d still held after the subtest ended", s)
}

func TestProc(t *testing.T) {
	Require(t, RedisServer)
	p := NewProc(t, RedisServer, "solo", fmt.Sprintf("127.0.%d.1", Subnet(t)), RedisPort)
	p.Start()
	pong, err := p.Do("PING").ToString()
	require.NoError(t, err)
	assert.Equal(t, "PONG", pong)
	log, err := os.ReadFile(p.LogPath())
	require.NoError(t, err)
	assert.Contains(t, string(log), "Ready to accept connections", "the process's output is in its log")

	// SIGSTOP: a frozen process does not answer; SIGCONT: it does again.
	client, err := p.Client()
	require.NoError(t, err)
	p.Signal(syscall.SIGSTOP)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err = client.Do(ctx, client.B().Ping().Build()).Error()
	cancel()
	assert.Error(t, err, "a stopped process answered")
	p.Signal(syscall.SIGCONT)
	WaitFor(t, 2*time.Second, "answers after SIGCONT", func() error { return p.Do("PING").Error() })

	// A fork that outlives its parent unless the whole group is killed: BGSAVE, slowed down
	// to 1 s per key.
	require.NoError(t, p.Do("CONFIG", "SET", "rdb-key-save-delay", "1000000").Error())
	for i := range 5 {
		require.NoError(t, p.Do("SET", fmt.Sprint("k", i), "v").Error())
	}
	require.NoError(t, p.Do("BGSAVE").Error())
	pgid := p.Pid()
	WaitFor(t, 2*time.Second, "the BGSAVE fork runs", func() error {
		if n := len(groupMembers(pgid)); n < 2 {
			return fmt.Errorf("%d processes in group %d", n, pgid)
		}
		return nil
	})
	p.Kill()
	assert.False(t, p.Running())
	assert.Empty(t, groupMembers(pgid), "process group %d left behind", pgid)
	assert.Error(t, p.Do("PING").Error(), "a killed process answered")

	// Wipe empties the directory but for the log; Restart comes back on the same address.
	require.NoError(t, os.WriteFile(p.Dir+"/dump.rdb", []byte("x"), 0o600))
	p.Wipe()
	entries, err := os.ReadDir(p.Dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, logName, entries[0].Name())
	p.Restart()
	WaitFor(t, 2*time.Second, "answers after restart", func() error { return p.Do("PING").Error() })
	n, err := p.Do("DBSIZE").AsInt64()
	require.NoError(t, err)
	assert.Zero(t, n, "no persistence: a restart comes back empty")
}

func TestClusterReplicatedSentinelClientWrites(t *testing.T) {
	const password = "pa55 \"word\""
	c := NewCluster(t, "trio", Options{Redis: 3, Sentinels: 3, Password: password, Replicated: true})
	master := c.Redis[0]
	// The loopback trap: with the wrong source or announce address, the master would list its
	// replicas as 127.0.0.1 and the sentinels would not tell each other apart.
	WaitFor(t, 10*time.Second, "replicas linked under their own addresses", func() error {
		info, err := master.Do("INFO", "replication").ToString()
		if err != nil {
			return err
		}
		for _, r := range c.Redis[1:] {
			if !strings.Contains(info, "ip="+r.IP+",port=6379,state=online") {
				return fmt.Errorf("%s not online in the master's INFO:\n%s", r.Name, info)
			}
		}
		return nil
	})
	WaitFor(t, 10*time.Second, "sentinels see each other and the replicas", func() error {
		for _, s := range c.Sentinels {
			for what, want := range map[string]int{"SENTINELS": 2, "REPLICAS": 2} {
				v, err := s.Do("SENTINEL", what, MasterName).ToAny()
				if got, _ := v.([]any); err != nil || len(got) != want {
					return fmt.Errorf("%s: SENTINEL %s: %d entries, want %d: %v", s.Name, what, len(got), want, err)
				}
			}
		}
		return nil
	})

	client := c.SentinelClient(t)
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, client.Do(ctx, client.B().Set().Key("k").Value("v").Build()).Error())
	acked, err := client.Do(ctx, client.B().Wait().Numreplicas(2).Timeout(2000).Build()).AsInt64()
	require.NoError(t, err)
	assert.EqualValues(t, 2, acked)
	for _, r := range c.Redis {
		v, err := r.Do("GET", "k").ToString()
		require.NoError(t, err, r.Name)
		assert.Equal(t, "v", v, r.Name)
	}
	assert.Error(t, c.Redis[1].Do("SET", "k", "w").Error(), "a replica took a write")
}

// TestClusterConfig checks the rendered boot configuration without starting anything.
func TestClusterConfig(t *testing.T) {
	c := NewCluster(t, "conf", Options{Redis: 2, Sentinels: 3, DownAfter: 5 * time.Second, NoStart: true,
		RedisConfig: []string{"maxmemory 10mb"}, Monitor: []Setting{{"parallel-syncs", "1"}}})
	for _, p := range c.Procs() {
		assert.Contains(t, p.Conf, "bind-source-addr "+p.IP+"\n", p.Name)
		assert.False(t, p.Running(), p.Name)
	}
	r := c.Redis[1]
	assert.Equal(t, c.IP(2), r.IP)
	assert.Equal(t, "rfr-conf-1", r.Name)
	assert.Contains(t, r.Conf, "replica-announce-ip "+r.IP+"\n")
	assert.Contains(t, r.Conf, "replicaof 127.0.0.1 1\n", "boots as a replica of the placeholder")
	assert.Contains(t, r.Conf, "maxmemory 10mb\n")
	assert.Contains(t, r.Conf, "protected-mode no\n")
	s := c.Sentinels[2]
	assert.Equal(t, "rfs-conf-c", s.Name)
	assert.Equal(t, c.IP(103), s.IP)
	assert.Contains(t, s.Conf, "sentinel announce-ip "+s.IP+"\n")
	assert.Contains(t, s.Conf, "sentinel monitor mymaster 127.0.0.1 6379 2\n")
	assert.Contains(t, s.Conf, "sentinel down-after-milliseconds mymaster 5000\n")
	assert.Contains(t, s.Conf, "sentinel parallel-syncs mymaster 1\n")
	assert.NotContains(t, c.SentinelConf(s, "", 0), "monitor")
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 400, strings.Count(b.String(), "\n"))
}
