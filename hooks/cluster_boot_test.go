package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/redistest"
)

// A shard pod's container, for real: the rendered redis.conf and the rendered start command run
// the real redis-server on a loopback address of a claimed subnet, with the environment the pod
// gets (POD_IP, REDISCLI_AUTH from the Secret). It must start in cluster mode, announce the pod
// IP, require the password (with spaces: the arguments must survive the shell), use it towards
// masters, keep it off its command line once started, and pass the rendered probes.
//
// What differs from the pod: the data volume's mount path /data is a directory of the test in
// the rendered file (dir, cluster-config-file); a local.conf includes that file and then sets
// bind (the rendered `bind * -::*` would take every address of the machine; Redis keeps the last
// value of a setting); the start command reads local.conf instead of /redis/redis.conf.
func TestClusterNodeBoots(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli", "sh")
	c := findClusterCase(t, "auth")
	resp := SyncCluster(&c.req, c.obs)
	var conf ConfigMap
	var sts StatefulSet
	for _, child := range resp.Children {
		b, err := json.Marshal(child)
		require.NoError(t, err)
		var kind struct{ Kind string }
		require.NoError(t, json.Unmarshal(b, &kind))
		switch kind.Kind {
		case "ConfigMap":
			require.NoError(t, json.Unmarshal(b, &conf))
		case "StatefulSet":
			require.NoError(t, json.Unmarshal(b, &sts))
		}
	}
	container := sts.Spec.Template.Spec.Containers[0]
	require.Equal(t, []string{"sh", "-c"}, container.Command[:2])

	const password = "s3cr3t w0rd"
	ip := fmt.Sprintf("127.0.%d.1", redistest.Subnet(t))
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "data"), 0o700))
	rendered := filepath.Join(dir, redisConfFile)
	text := strings.ReplaceAll(conf.Data[redisConfFile], " "+dataDir, " "+filepath.Join(dir, "data"))
	require.Contains(t, text, "cluster-config-file "+filepath.Join(dir, "data", "nodes.conf"))
	require.NoError(t, os.WriteFile(rendered, []byte(text), 0o600))
	local := filepath.Join(dir, "local.conf")
	require.NoError(t, os.WriteFile(local, []byte(fmt.Sprintf("include %s\nbind %s\n", rendered, ip)), 0o600))
	script := strings.Replace(container.Command[2], redisConfigDir+"/"+redisConfFile, local, 1)
	require.NotEqual(t, container.Command[2], script, "the start command reads the rendered file")
	// A new node (no nodes.conf) waits 2 × cluster-node-timeout before it listens: 1 s here.
	script = strings.ReplaceAll(script, dataDir+"/nodes.conf", filepath.Join(dir, "data", "nodes.conf"))
	require.Contains(t, script, "sleep 10\n", "2 × the default cluster-node-timeout")
	script = strings.Replace(script, "sleep 10\n", "sleep 1\n", 1)
	started := time.Now()

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "POD_IP="+ip, "REDISCLI_AUTH="+password)
	log, err := os.Create(filepath.Join(dir, "redis.log"))
	require.NoError(t, err)
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cancel()
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("%s:%d", ip, DefaultRedisPort)
	var client rueidis.Client
	redistest.WaitFor(t, 10*time.Second, "the node answers", func() error {
		var err error
		if client == nil {
			client, err = redistest.NewClient(addr, password)
		}
		if err == nil {
			err = client.Do(t.Context(), client.B().Ping().Build()).Error()
		}
		if err != nil {
			b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return fmt.Errorf("%w; log: %s", err, b)
		}
		return nil
	})
	defer client.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
	assert.Contains(t, string(b), "a new node; waiting", "no nodes.conf: the node waits before it listens")
	assert.GreaterOrEqual(t, time.Since(started), time.Second, "the node answered before its wait was over")

	info, err := client.Do(t.Context(), client.B().Info().Section("cluster").Build()).ToString()
	require.NoError(t, err)
	assert.Contains(t, info, "cluster_enabled:1")
	for option, want := range map[string]string{"cluster-announce-ip": ip, "masterauth": password,
		"requirepass": password, "cluster-node-timeout": "5000", "maxmemory-policy": "allkeys-lru"} {
		got, err := client.Do(t.Context(), client.B().ConfigGet().Parameter(option).Build()).AsStrMap()
		require.NoError(t, err, option)
		assert.Equal(t, want, got[option], option)
	}

	// No password, no access.
	if anonymous, err := redistest.NewClient(addr, ""); assert.ErrorContains(t, err, "NOAUTH") {
		assert.Nil(t, anonymous)
	}

	// redis-server (exec'd by the shell) replaced its command line: the password is not on it.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	require.NoError(t, err)
	assert.NotContains(t, string(cmdline), "w0rd")
	assert.Contains(t, string(cmdline), "redis-server")

	// The rendered probes pass against the node, with the pod's environment.
	probeEnv := append(os.Environ(), "REDIS_HOST="+ip, fmt.Sprintf("REDIS_PORT=%d", DefaultRedisPort))
	for name, argv := range map[string][]string{"readiness": container.ReadinessProbe.Exec.Command,
		"liveness": container.LivenessProbe.Exec.Command} {
		probe := exec.CommandContext(t.Context(), argv[0], argv[1:]...)
		probe.Env = append(probeEnv, "REDISCLI_AUTH="+password)
		out, err := probe.CombinedOutput()
		assert.NoError(t, err, "%s probe: %s", name, out)
	}
	// Without the password the readiness probe fails: NOAUTH is not PONG.
	probe := exec.CommandContext(t.Context(), container.ReadinessProbe.Exec.Command[0], container.ReadinessProbe.Exec.Command[1:]...)
	probe.Env = append(probeEnv, "REDISCLI_AUTH=")
	assert.Error(t, probe.Run(), "readiness without the password")
}

// TestClusterPreStopHandsOver runs the rendered preStop hook against real redis-server nodes in
// cluster mode: a master holding every slot, with one replica, under a writer. The hook must
// make the replica the master (CLUSTER FAILOVER) before it returns, with no acknowledged write
// lost; on a replica it does nothing.
func TestClusterPreStopHandsOver(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli", "sh", "sed", "head")
	c := findClusterCase(t, "steady")
	var sts StatefulSet
	for _, child := range SyncCluster(&c.req, c.obs).Children {
		b, err := json.Marshal(child)
		require.NoError(t, err)
		if strings.Contains(string(b), `"kind":"StatefulSet"`) {
			require.NoError(t, json.Unmarshal(b, &sts))
			break
		}
	}
	hook := sts.Spec.Template.Spec.Containers[0].Lifecycle.PreStop.Exec.Command
	require.Equal(t, []string{"sh", "-c"}, hook[:2])

	sh := redistest.NewSharded(t, "prestop", redistest.ShardedOptions{Shards: 1, PerShard: 2})
	master, replica := sh.Shards[0][0], sh.Shards[0][1]
	require.NoError(t, master.Do("CLUSTER", "ADDSLOTSRANGE", "0", "16383").Error())
	require.NoError(t, master.Do("CLUSTER", "MEET", replica.IP, fmt.Sprint(replica.Port)).Error())
	id, err := master.Do("CLUSTER", "MYID").ToString()
	require.NoError(t, err)
	// CLUSTER REPLICATE is sent until it is taken (the replica must have learned the master
	// through the gossip first), and only then: each one restarts the replication link.
	redistest.WaitFor(t, 20*time.Second, "the replica takes CLUSTER REPLICATE", func() error {
		return replica.Do("CLUSTER", "REPLICATE", id).Error()
	})
	redistest.WaitFor(t, 20*time.Second, "the replica follows the master", func() error {
		info, err := master.Do("INFO", "replication").ToString()
		if err != nil || !strings.Contains(info, "state=online") {
			return fmt.Errorf("master's INFO: %q (%v)", info, err)
		}
		return nil
	})
	// The rendered readiness probe: the master and its in-sync replica are Ready; a replica of
	// a master that does not answer is not.
	probe := sts.Spec.Template.Spec.Containers[0].ReadinessProbe.Exec.Command
	ready := func(p *redistest.Proc) error {
		cmd := exec.CommandContext(t.Context(), probe[0], probe[1:]...)
		cmd.Env = append(os.Environ(), "REDIS_HOST="+p.IP, fmt.Sprintf("REDIS_PORT=%d", p.Port))
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	assert.NoError(t, ready(master), "the master is Ready")
	redistest.WaitFor(t, 10*time.Second, "the in-sync replica is Ready", func() error { return ready(replica) })

	client := sh.ClusterClient(t)
	defer client.Close()
	w, err := redistest.NewWriter(client, redistest.WriterConfig{Prefix: "prestop-", Timeout: time.Second, Pause: 5 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)

	run := func(p *redistest.Proc) string {
		cmd := exec.CommandContext(t.Context(), hook[0], hook[1:]...)
		cmd.Env = append(os.Environ(), "REDIS_HOST="+p.IP, fmt.Sprintf("REDIS_PORT=%d", p.Port))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	start := time.Now()
	out := run(master)
	took := time.Since(start)
	assert.Contains(t, out, "handed over to "+replica.IP)
	role, err := master.Do("ROLE").ToAny()
	require.NoError(t, err)
	assert.Equal(t, "slave", role.([]any)[0], "the old master is a replica when the hook returns")
	role, err = replica.Do("ROLE").ToAny()
	require.NoError(t, err)
	assert.Equal(t, "master", role.([]any)[0])
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
	loss, err := w.Verify(t.Context(), client)
	require.NoError(t, err)
	n := w.Counts()
	assert.Empty(t, loss.Unconfirmed, "acknowledged writes lost")
	t.Logf("preStop handed the slots over in %v; writes acknowledged %d, failed %d (%v), lost %d, longest gap %v",
		took.Round(time.Millisecond), n.Unconfirmed, n.Failed, w.Errors(time.Time{}), len(loss.Unconfirmed), w.LongestGap().Round(time.Millisecond))
	assert.Empty(t, strings.TrimSpace(run(master)), "on a replica the hook does nothing")
	replica.Kill() // now the master
	redistest.WaitFor(t, 10*time.Second, "a replica of a dead master is not Ready", func() error {
		if ready(master) == nil {
			return fmt.Errorf("still Ready")
		}
		return nil
	})
}
