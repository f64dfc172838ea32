package hooks

import (
	"fmt"
	"os/exec"
	"strings"
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
