package redistest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestShardedBootsUnformed(t *testing.T) {
	c := NewSharded(t, "sh", ShardedOptions{Shards: 2, PerShard: 2, Password: "pw"})
	require.Len(t, c.Shards, 2)
	p := c.Shards[1][1]
	assert.Equal(t, "rdc-sh-1-1", p.Name)
	assert.Equal(t, c.IP(12), p.IP)
	info, err := p.Do("CLUSTER", "INFO").ToString()
	require.NoError(t, err)
	assert.Contains(t, info, "cluster_known_nodes:1", "unformed: knows itself only")
	assert.Contains(t, info, "cluster_slots_assigned:0")
	nodes, err := p.Do("CLUSTER", "NODES").ToString()
	require.NoError(t, err)
	assert.Contains(t, nodes, p.IP+":6379@16379", "announces its own address")

	added := c.AddShard()
	assert.Equal(t, "rdc-sh-2-0", added[0].Name)
	fresh := c.Replace(0, 0)
	assert.Equal(t, c.IP(201), fresh.IP)
	assert.True(t, fresh.Alive())
	c.RemoveShard()
	assert.Len(t, c.Shards, 2)
	assert.False(t, added[0].Alive())
	assert.Len(t, c.Addrs(), 4)
	assert.True(t, strings.HasPrefix(c.Addrs()[0], c.IP(201)))
}
