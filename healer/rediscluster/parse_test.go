package rediscluster

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A CLUSTER NODES reply of redis-server 7.0.15 in the middle of a slot move, with a failed
// node, a handshake and a node without address.
const nodesReply = `f0a9c1e2d3b4a5968778695a4b3c2d1e0f1a2b3c 127.0.180.1:6379@16379 myself,master - 0 1700000000000 1 connected 0-5460 [5460->-a1b2c3d4e5f60718293a4b5c6d7e8f9012345678]
a1b2c3d4e5f60718293a4b5c6d7e8f9012345678 127.0.180.31:6379@16379 master - 0 1700000001000 4 connected 12000 [777-<-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb]
b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0 127.0.180.2:6379@16379 slave f0a9c1e2d3b4a5968778695a4b3c2d1e0f1a2b3c 0 1700000002000 1 connected
cccccccccccccccccccccccccccccccccccccccc 127.0.180.12:6379@16379 master,fail - 1700000000000 1700000000000 2 disconnected
dddddddddddddddddddddddddddddddddddddddd 127.0.180.40:6379@16379 handshake - 0 0 0 connected
eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee :0@0 slave,fail,noaddr cccccccccccccccccccccccccccccccccccccccc 0 0 2 disconnected
ffffffffffffffffffffffffffffffffffffffff 127.0.180.13:6379@16379,host-13 slave,fail? cccccccccccccccccccccccccccccccccccccccc 0 0 2 connected
`

func TestParseClusterNodes(t *testing.T) {
	nodes, err := ParseClusterNodes(nodesReply)
	require.NoError(t, err)
	verb, err := ParseClusterNodes("txt:" + nodesReply) // a RESP3 verbatim string
	require.NoError(t, err)
	assert.Equal(t, nodes, verb)
	require.NoError(t, err)
	require.Len(t, nodes, 7)
	me := nodes[0]
	assert.True(t, me.Myself && me.Master && !me.Replica)
	assert.Equal(t, "127.0.180.1", me.IP)
	assert.Equal(t, 6379, me.Port)
	assert.Equal(t, 16379, me.BusPort)
	assert.Equal(t, []SlotRange{{0, 5460}}, me.Slots)
	assert.Equal(t, map[int]string{5460: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"}, me.Migrating)
	assert.Equal(t, int64(1), me.Epoch)
	assert.Equal(t, []SlotRange{{12000, 12000}}, nodes[1].Slots)
	assert.Equal(t, map[int]string{777: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}, nodes[1].Importing)
	assert.True(t, nodes[2].Replica)
	assert.Equal(t, me.ID, nodes[2].MasterID)
	assert.True(t, nodes[3].Fail && !nodes[3].Connected)
	assert.True(t, nodes[4].Handshake)
	assert.True(t, nodes[5].NoAddr)
	assert.Equal(t, "", nodes[5].IP)
	assert.True(t, nodes[6].PFail && !nodes[6].Fail)
	assert.Equal(t, "127.0.180.13", nodes[6].IP)

	_, err = ParseClusterNodes("abc 127.0.0.1:1@2 master - 0 0 1 connected 16384")
	assert.Error(t, err)
	_, err = ParseClusterNodes("abc short")
	assert.Error(t, err)
}

func TestParseInfo(t *testing.T) {
	ci, err := ParseClusterInfo("txt:cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_known_nodes:6\r\ncluster_current_epoch:7\r\n")
	require.NoError(t, err)
	assert.Equal(t, ClusterInfo{State: "ok", SlotsAssigned: 16384, KnownNodes: 6, CurrentEpoch: 7}, ci)
	r, err := ParseReplication("# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nslave_repl_offset:1234\r\n")
	require.NoError(t, err)
	assert.Equal(t, Replication{Role: "slave", Offset: 1234, LinkUp: true}, r)
	_, err = ParseReplication("")
	assert.Error(t, err)
}

func TestRanges(t *testing.T) {
	assert.Equal(t, []SlotRange{{1, 3}, {5, 5}, {7, 8}}, Ranges([]int{8, 1, 2, 3, 5, 7, 2}))
	assert.Equal(t, []int{1, 2, 3, 5}, Expand([]SlotRange{{1, 3}, {5, 5}}))
	assert.Equal(t, "1-3,5", FormatRanges([]SlotRange{{1, 3}, {5, 5}}))
	assert.Equal(t, NumSlots, SlotCount([]SlotRange{shardRange(0, 3), shardRange(1, 3), shardRange(2, 3)}))
	assert.Equal(t, []int{4096, 4096, 4096, 4096}, Shares(4))
}
