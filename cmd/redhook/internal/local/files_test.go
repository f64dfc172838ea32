package local

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMapMounts(t *testing.T) {
	tests := []struct{ in, want string }{
		{"include /redis-auth/redis.conf\n", "include /p/redis-auth/redis.conf\n"},
		{"dir /data\n", "dir /p/data\n"},
		{"sh /redis-readiness/ready.sh", "sh /p/redis-readiness/ready.sh"},
		{"dir /database\n", "dir /database\n"},
		{"replicaof 127.0.0.1 1\n", "replicaof 127.0.0.1 1\n"},
		{`x="/redis-shutdown/shutdown.sh"`, `x="/p/redis-shutdown/shutdown.sh"`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, mapMounts(tt.in, "/p"), tt.in)
	}
}

// A probe or hook that its context ends kills the processes its shell started, as a kubelet
// kills a container's: a redis-cli of a readiness probe once outlived a stopped RedisFailover.
func TestPodCommandKillsItsChildren(t *testing.T) {
	c := &Cluster{}
	p := &Pod{dir: t.TempDir(), ip: "127.0.0.1", port: 6379}
	marker := fmt.Sprintf("3600.%d%d", os.Getpid(), time.Now().UnixNano()%1000) // sleep's argument, unique
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := c.podCommand(ctx, p, []string{"sh", "-c", "sleep " + marker + "; echo done"}).Run()
	require.Error(t, err, "the context ended the command")
	assert.Empty(t, processesOn(marker), "processes of the command left behind")
}
