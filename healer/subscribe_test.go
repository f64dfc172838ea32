package healer

import (
	"testing"

	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
)

func TestFailoverTarget(t *testing.T) {
	tp := hooks.Topology{MasterName: "mymaster", RedisPort: 6379, Redis: []hooks.PodRef{
		{Name: "rfr-a-0", IP: "10.0.0.10"}, {Name: "rfr-a-1", IP: "10.0.0.11"}, {Name: "rfr-a-2", IP: "10.0.0.12"}}}
	tests := []struct {
		msg  string
		want string // "" when no failover of this RedisFailover
	}{
		{"mymaster 10.0.0.10 6379 10.0.0.11 6379", "10.0.0.11:6379"},
		{"mymaster 127.0.0.1 6379 10.0.0.11 6379", ""}, // a restarted sentinel catching up
		{"mymaster 10.0.0.99 6379 10.0.0.11 6379", ""}, // not a pod of ours
		{"mymaster 10.0.0.10 7000 10.0.0.11 6379", ""}, // not the redis port
		{"other 10.0.0.10 6379 10.0.0.11 6379", ""},    // another master name
		{"mymaster 10.0.0.10 6379", ""},                // malformed
	}
	for _, tt := range tests {
		got, ok := failoverTarget(tp, tt.msg)
		assert.Equal(t, tt.want, got, tt.msg)
		assert.Equal(t, tt.want != "", ok, tt.msg)
	}
}
