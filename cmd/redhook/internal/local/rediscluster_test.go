package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/rediscluster"
	"github.com/redhook/redhook/healer/redistest"
)

// TestLocalRedisClusterExample: `redhook local` on manifests/examples/cluster.yaml starts its
// six cluster-mode redis-server processes, the healer forms the cluster (cluster_state ok, every
// slot assigned, each shard a master and a replica), a cluster client writes and reads keys on
// every shard with the Secret's password, the output says how to connect and never shows the
// password, an edit of the file is refused with a message, and when the context ends no process
// and no file is left.
func TestLocalRedisClusterExample(t *testing.T) {
	redistest.Require(t, redistest.RedisServer)
	src, err := os.ReadFile(filepath.Join(repoRoot, "manifests", "examples", "cluster.yaml"))
	require.NoError(t, err)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	require.NoError(t, os.WriteFile(file, src, 0o600))
	cfg := Config{Files: []string{file}, BaseIP: net.ParseIP(fmt.Sprintf("127.0.%d.1", redistest.Subnet(t))),
		RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli"}
	isCluster, err := IsRedisCluster(&cfg)
	require.NoError(t, err)
	require.True(t, isCluster)
	out := &redistest.SyncBuffer{}
	logs := redistest.CaptureLog(t, "redhook")
	c, err := NewRedisCluster(cfg, out, zerolog.New(logs))
	require.NoError(t, err)
	require.Len(t, c.nodes, 6)
	assert.Equal(t, "rdc-cluster-2-1", c.nodes[5].name)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)

	require.Eventually(t, func() bool {
		r := c.Report()
		if r.ClusterState != "ok" || r.SlotsAssigned != rediscluster.NumSlots || len(r.Shards) != 3 {
			return false
		}
		for _, s := range r.Shards {
			if s.Master == "" || len(s.Replicas) != 1 {
				return false
			}
		}
		return true
	}, 60*time.Second, 200*time.Millisecond, "cluster not formed:\n%s", out)

	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: c.Addrs(), Password: "change-me",
		DisableCache: true, ConnWriteTimeout: 5 * time.Second})
	require.NoError(t, err)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	for i := range 300 {
		k := fmt.Sprintf("key-%d", i)
		require.NoError(t, client.Do(wctx, client.B().Set().Key(k).Value("v"+k).Build()).Error(), k)
	}
	for i := range 300 {
		k := fmt.Sprintf("key-%d", i)
		v, err := client.Do(wctx, client.B().Get().Key(k).Build()).ToString()
		require.NoError(t, err, k)
		require.Equal(t, "v"+k, v)
	}
	// The keys are spread over the shards: every master holds some.
	for _, s := range c.Report().Shards {
		n := nodeByName(t, c, s.Master)
		node, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{n.Addr()}, Password: "change-me",
			DisableCache: true, ForceSingleClient: true})
		require.NoError(t, err)
		size, err := node.Do(wctx, node.B().Dbsize().Build()).AsInt64()
		node.Close()
		require.NoError(t, err)
		assert.Positive(t, size, "shard %d master %s", s.Index, s.Master)
	}
	client.Close()

	// A killed process is restarted on its address and nodes.conf, as a kubelet restarts a
	// container, and its node is back in its shard.
	var victim *clusterNode
	for _, n := range c.nodes {
		if n.name == c.Report().Shards[1].Replicas[0] {
			victim = n
		}
	}
	require.NotNil(t, victim)
	before := pidOf(victim.proc)
	require.NoError(t, victim.proc.kill(false))
	require.Eventually(t, func() bool {
		if pid := pidOf(victim.proc); pid == 0 || pid == before {
			return false
		}
		r := c.Report()
		return r.ClusterState == "ok" && len(r.Shards) == 3 && slices.Contains(r.Shards[1].Replicas, victim.name) &&
			slices.ContainsFunc(r.Nodes, func(n rediscluster.NodeReport) bool { return n.Pod == victim.name && n.Reachable })
	}, 30*time.Second, 200*time.Millisecond, "%s not back:\n%s", victim.name, out)

	// An edit is not applied: a message asks for a restart.
	require.NoError(t, os.WriteFile(file, append(src, []byte("\n# edited\n")...), 0o600))
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "restart redhook local") },
		10*time.Second, 100*time.Millisecond)

	pids := map[string]int{}
	for _, n := range c.nodes {
		pid := pidOf(n.proc)
		require.NotZero(t, pid, n.name)
		pids[n.name] = pid
	}
	dir := c.Dir()
	stop()
	text := out.String()
	assert.Contains(t, text, "cluster_state ok: try: redis-cli -c -h "+c.nodes[0].ip+" -p 6379")
	assert.Contains(t, text, "cluster cluster_state=ok slots=16384/16384 Ready=True Available=True Progressing=False Degraded=False")
	assert.Contains(t, text, "rdc-cluster-2-0  rdc-cluster-2-1  ") // the shard table
	assert.Contains(t, text, "stopping every process")
	assert.NotContains(t, text, "change-me", "the password is printed")
	assert.NotContains(t, logs.String(), "change-me", "the password is logged")
	for name, pid := range pids {
		assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "%s (pid %d) still runs", name, pid)
	}
	for _, a := range c.Addrs() {
		conn, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			conn.Close()
		}
		assert.Error(t, err, "%s still listens", a)
	}
	_, err = os.Stat(dir)
	assert.True(t, errors.Is(err, os.ErrNotExist), "%s left behind: %v", dir, err)
}

func nodeByName(t *testing.T, c *RedisCluster, name string) *clusterNode {
	t.Helper()
	for _, n := range c.nodes {
		if n.name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

func pidOf(p *process) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// TestIsRedisCluster: the kind decides, standard input included, which stays readable.
func TestIsRedisCluster(t *testing.T) {
	rf := writeRF(t, "apiVersion: databases.spotahome.com/v1\nkind: RedisFailover\nmetadata: {name: a}\n")
	rc := writeRF(t, "apiVersion: redhook.io/v1alpha1\nkind: RedisCluster\nmetadata: {name: b}\n")
	for _, tc := range []struct {
		files []string
		want  bool
	}{{[]string{rf}, false}, {[]string{rc}, true}} {
		got, err := IsRedisCluster(&Config{Files: tc.files})
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, tc.files)
	}
	src, err := os.ReadFile(rc)
	require.NoError(t, err)
	cfg := Config{Files: []string{"-"}, Stdin: strings.NewReader(string(src))}
	got, err := IsRedisCluster(&cfg)
	require.NoError(t, err)
	assert.True(t, got)
	again, err := io.ReadAll(cfg.Stdin)
	require.NoError(t, err)
	assert.Equal(t, string(src), string(again))
}

// TestLocalRedisClusterInvalid: an invalid RedisCluster is refused before anything starts, with
// every problem's field path; a missing Secret is named.
func TestLocalRedisClusterInvalid(t *testing.T) {
	cfg := Config{BaseIP: net.ParseIP("127.0.0.1"), RedisServer: "redis-server", RedisCli: "redis-cli"}
	cfg.Files = []string{writeRF(t, `apiVersion: redhook.io/v1alpha1
kind: RedisCluster
metadata: {name: bad}
spec:
  numberOfMaster: 2
  replicationFactor: "one"
`)}
	_, err := NewRedisCluster(cfg, &redistest.SyncBuffer{}, zerolog.Nop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "invalid RedisCluster")
	assert.Contains(t, err.Error(), "spec.numberOfMaster")
	assert.Contains(t, err.Error(), "spec.replicationFactor")

	cfg.Files = []string{writeRF(t, `apiVersion: redhook.io/v1alpha1
kind: RedisCluster
metadata: {name: noauth}
spec:
  auth: {secretPath: missing}
`)}
	_, err = NewRedisCluster(cfg, &redistest.SyncBuffer{}, zerolog.Nop())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Secret "missing"`)
}
