package hooks

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/redhook/redhook/healer/redistest"
)

// shutdownDefinitions is the rendered shutdown.sh of the "auth" case up to its hand-over: the
// variables and the functions, nothing run yet.
func shutdownDefinitions(t *testing.T) string {
	t.Helper()
	var cm renderedConfigMap
	require.True(t, child(t, syncCase(t, "auth", nil), "ConfigMap", "rfr-s-cache", &cm))
	script := cm.Data[shutdownScript]
	i := strings.Index(script, "\n{\n")
	require.Positive(t, i, "no hand-over block in:\n%s", script)
	return script[:i+1]
}

// TestShutdownScriptHostPort: hostport splits an address at its last colon, so that an IPv6
// replica keeps its address (run by sh on the rendered definitions).
func TestShutdownScriptHostPort(t *testing.T) {
	redistest.Require(t, "sh")
	defs := shutdownDefinitions(t)
	for addr, want := range map[string]string{
		"10.0.0.7:6379":         "10.0.0.7|6379",
		"fd00:10::5:6379":       "fd00:10::5|6379",
		"redis-0.example:16379": "redis-0.example|16379",
	} {
		out, err := exec.Command("sh", "-c", defs+`hostport "$1"; echo "$ahost|$aport"`, "sh", addr).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Equal(t, want, strings.TrimSpace(string(out)), addr)
	}
}

// TestShutdownScriptRepoint: after a hand-over, repoint makes the node's other replicas
// replicas of the new master, and leaves the new master alone (real redis-server processes).
func TestShutdownScriptRepoint(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli", "sh")
	defs := shutdownDefinitions(t)
	c := redistest.NewCluster(t, "repoint", redistest.Options{Redis: 3, Replicated: true})
	old, promoted, other := c.Redis[0], c.Redis[1], c.Redis[2]
	require.NoError(t, promoted.Do("REPLICAOF", "NO", "ONE").Error())
	script := defs + fmt.Sprintf(`now; end=$((now + 10))
replicas="%s %s"
repoint %s %d
`, promoted.Addr(), other.Addr(), promoted.IP, promoted.Port)
	out, err := exec.Command("sh", "-c", script).CombinedOutput()
	require.NoError(t, err, "%s", out)
	info, err := other.Do("INFO", "replication").ToString()
	require.NoError(t, err)
	assert.Contains(t, info, "master_host:"+promoted.IP+"\r\n", "the other replica follows the new master")
	info, err = promoted.Do("INFO", "replication").ToString()
	require.NoError(t, err)
	assert.Contains(t, info, "role:master\r\n", "the new master stays master")

	// Past the hand-over's deadline, repoint sends nothing.
	require.NoError(t, other.Do("REPLICAOF", old.IP, fmt.Sprint(old.Port)).Error())
	start := time.Now()
	out, err = exec.Command("sh", "-c", strings.Replace(script, "end=$((now + 10))", "end=$((now - 1))", 1)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Less(t, time.Since(start), 2*time.Second)
	info, err = other.Do("INFO", "replication").ToString()
	require.NoError(t, err)
	assert.Contains(t, info, "master_host:"+old.IP+"\r\n", "nothing sent past the deadline")
}

// TestShutdownScriptStopLingers: stop closes the node's listener and ends its clients'
// connections at once, then keeps the script (and so the pod and its address) running for
// lingerSeconds, leaving the process to the kubelet's SIGTERM; past the deadline it does not wait
// (real redis-server).
func TestShutdownScriptStopLingers(t *testing.T) {
	redistest.Require(t, redistest.RedisServer, "redis-cli", "sh")
	defs := shutdownDefinitions(t)
	c := redistest.NewCluster(t, "linger", redistest.Options{Redis: 2})
	stop := func(node *redistest.Proc, deadline string) *exec.Cmd {
		cmd := exec.Command("sh", "-c", defs+"now; end=$((now "+deadline+"))\nstop\n")
		cmd.Env = append(os.Environ(), "REDIS_HOST="+node.IP, fmt.Sprintf("REDIS_PORT=%d", node.Port))
		return cmd
	}
	node := c.Redis[0]
	client, err := net.Dial("tcp", node.Addr())
	require.NoError(t, err)
	defer client.Close()

	cmd := stop(node, "+ 10")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The open connection is ended; a new one is refused.
	require.NoError(t, client.SetReadDeadline(time.Now().Add(3*time.Second)))
	_, err = client.Read(make([]byte, 16))
	assert.ErrorIs(t, err, io.EOF, "the client's connection is closed")
	_, err = net.DialTimeout("tcp", node.Addr(), time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "a new connection is refused")
	// The script lingers, and leaves the process running.
	select {
	case err := <-done:
		t.Fatalf("stop ended after %v, before lingering %s s: %v\n%s", time.Since(start), lingerSeconds, err, out.String())
	case <-time.After(time.Second):
	}
	require.NoError(t, <-done, out.String())
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond)
	assert.Contains(t, out.String(), "listener closed")
	assert.True(t, node.Alive(), "the process is left to the kubelet's SIGTERM")

	// Past the deadline: the listener closes, and the script ends at once.
	node = c.Redis[1]
	start = time.Now()
	b, err := stop(node, "- 1").CombinedOutput()
	require.NoError(t, err, "%s", b)
	assert.Less(t, time.Since(start), time.Second, "%s", b)
	assert.Contains(t, string(b), "listener closed")
	_, err = net.DialTimeout("tcp", node.Addr(), time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "a new connection is refused")
	assert.True(t, node.Alive())
}
