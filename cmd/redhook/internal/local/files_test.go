package local

import (
	"testing"

	"github.com/stretchr/testify/assert"
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
