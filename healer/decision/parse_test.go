package decision

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files in testdata/ were captured from redis-server / redis-sentinel 7.0.15 on loopback:
// text replies with redis-cli, structured replies with `redis-cli --json` (RESP3 unless the file
// name says resp2). readReply turns the JSON back into the values rueidis' ToAny returns.

func readText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return string(b)
}

func readReply(t *testing.T, name string) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(readText(t, name))))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v))
	return fromJSON(t, v)
}

func fromJSON(t *testing.T, v any) any {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		n, err := x.Int64()
		require.NoError(t, err)
		return n
	case []any:
		for i := range x {
			x[i] = fromJSON(t, x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = fromJSON(t, x[k])
		}
	}
	return v
}

func TestParseRedisInfo(t *testing.T) {
	tests := []struct {
		file string
		want RedisInfo
	}{
		{"info_replication_master.txt", RedisInfo{Role: "master", Offset: 451, ConnectedReplicas: 2,
			ReplID: "e3603d0f0f9837d5a75bcc8b2f544291ab68803d",
			Replicas: []ReplicaLink{
				{IP: "127.0.250.2", Port: 6379, State: "online", Offset: 451},
				{IP: "127.0.250.3", Port: 6379, State: "online", Offset: 451},
			}}},
		{"info_replication_replica.txt", RedisInfo{Role: "slave", MasterHost: "127.0.250.1",
			MasterPort: 6379, LinkUp: true, Offset: 451, ReplID: "e3603d0f0f9837d5a75bcc8b2f544291ab68803d"}},
		{"info_replication_link_down.txt", RedisInfo{Role: "slave", MasterHost: "127.0.250.1",
			MasterPort: 6379, Offset: 4915, ReplID: "e3603d0f0f9837d5a75bcc8b2f544291ab68803d"}},
		{"info_replication_placeholder.txt", RedisInfo{Role: "slave", MasterHost: "127.0.0.1",
			MasterPort: 1, ReplID: "277d067e811fda3bb991b8a3abcdc09d160bff48", LinkDownSince: -1}},
		{"info_multi_master.txt", RedisInfo{Role: "master", Offset: 4777, ConnectedReplicas: 2,
			ReplID: "e3603d0f0f9837d5a75bcc8b2f544291ab68803d", RunID: "2c2f8d891289c0e7b2400d8f49af7008bf729904",
			Keys: 100, Uptime: 18, Replicas: []ReplicaLink{
				{IP: "127.0.250.2", Port: 6379, State: "online", Offset: 4777},
				{IP: "127.0.250.3", Port: 6379, State: "online", Offset: 4777},
			}}},
		{"info_multi_restarted.txt", RedisInfo{Role: "slave", MasterHost: "127.0.0.1", MasterPort: 1,
			ReplID: "0cb9550b8c25561dd1ccd82ce9c94e844de19802", RunID: "787d9b2fc719b65ed7ebf209090fea232c20d5ef",
			LinkDownSince: -1}},
		{"info_replica_refused.txt", RedisInfo{Role: "slave", MasterHost: "127.0.250.1", MasterPort: 7701,
			ReplID: "12dd151037058999954297362da06908f4b972fb", RunID: "eb943c66f48ae5128ca2dd3d52e4b54d1eae8c64",
			RefusedWrites: 2, LinkDownSince: -1, Uptime: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseRedisInfo(readText(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseRedisInfoErrors(t *testing.T) {
	for name, text := range map[string]string{
		"empty":         "",
		"no role":       "# Replication\r\nconnected_slaves:0\r\n",
		"bad role":      "role:sentinel\r\n",
		"bad offset":    "role:master\r\nmaster_repl_offset:x\r\n",
		"bad replica":   "role:master\r\nconnected_slaves:1\r\nslave0:ip=,port=1\r\n",
		"bad keys":      "role:master\r\ndb0:keys=x,expires=0\r\n",
		"bad errorstat": "role:slave\r\nerrorstat_READONLY:count=\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRedisInfo(text)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		file string
		want Role
	}{
		{"role_master.json", Role{Role: "master", Offset: 451, Replicas: []ReplicaLink{
			{IP: "127.0.250.2", Port: 6379, Offset: 451},
			{IP: "127.0.250.3", Port: 6379, Offset: 451},
		}}},
		{"role_replica.json", Role{Role: "slave", MasterHost: "127.0.250.1", MasterPort: 6379,
			State: "connected", Offset: 451}},
		{"role_placeholder.json", Role{Role: "slave", MasterHost: "127.0.0.1", MasterPort: 1,
			State: "connect", Offset: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseRole(readReply(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for name, v := range map[string]any{
		"not an array":  "master",
		"empty":         []any{},
		"sentinel":      []any{"sentinel", []any{"mymaster"}},
		"short master":  []any{"master", int64(1)},
		"short replica": []any{"slave", "10.0.0.1", int64(6379)},
		"bad offset":    []any{"master", "x", []any{}},
		"bad replicas":  []any{"master", int64(1), []any{[]any{"10.0.0.1"}}},
		"bad port":      []any{"slave", "10.0.0.1", "port", "connected", int64(3)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseRole(v)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseSentinelInfo(t *testing.T) {
	tests := []struct {
		file string
		want SentinelInfo
	}{
		{"info_sentinel.txt", SentinelInfo{Masters: []SentinelInfoMaster{{Name: "mymaster",
			Status: "ok", Host: "127.0.250.1", Port: 6379, Slaves: 2, Sentinels: 3}}}},
		{"info_sentinel_placeholder.txt", SentinelInfo{Masters: []SentinelInfoMaster{{
			Name: "mymaster", Status: "sdown", Host: "127.0.0.1", Port: 1, Slaves: 0, Sentinels: 1}}}},
		{"info_sentinel_empty.txt", SentinelInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseSentinelInfo(readText(t, tt.file))
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("lookup", func(t *testing.T) {
		info, err := ParseSentinelInfo(readText(t, "info_sentinel.txt"))
		require.NoError(t, err)
		_, ok := info.Master("mymaster")
		assert.True(t, ok)
		_, ok = info.Master("other")
		assert.False(t, ok)
	})
	for name, text := range map[string]string{
		"not sentinel":   "role:master\r\n",
		"missing master": "sentinel_masters:1\r\n",
		"bad address":    "sentinel_masters:1\r\nmaster0:name=m,status=ok,address=nowhere,slaves=0,sentinels=1\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSentinelInfo(text)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseSentinelMaster(t *testing.T) {
	t.Run("healthy", func(t *testing.T) {
		m, err := ParseSentinelMaster(readReply(t, "sentinel_master.json"))
		require.NoError(t, err)
		assert.Equal(t, "mymaster", m.Name)
		assert.Equal(t, "127.0.250.1", m.IP)
		assert.EqualValues(t, 6379, m.Port)
		assert.Equal(t, "2c2f8d891289c0e7b2400d8f49af7008bf729904", m.RunID)
		assert.Equal(t, []string{"master"}, m.Flags)
		assert.Equal(t, 2, m.NumReplicas)
		assert.Equal(t, 2, m.NumOtherSentinels)
		assert.Equal(t, 2, m.Quorum)
		assert.False(t, m.FailoverInProgress())
		assert.Equal(t, "1000", m.Fields["down-after-milliseconds"])
		assert.Equal(t, "5000", m.Fields["failover-timeout"])
		assert.Equal(t, "1", m.Fields["parallel-syncs"])
	})
	t.Run("resp2 equals resp3", func(t *testing.T) {
		m2, err := ParseSentinelMaster(readReply(t, "sentinel_master_resp2.json"))
		require.NoError(t, err)
		m3, err := ParseSentinelMaster(readReply(t, "sentinel_master.json"))
		require.NoError(t, err)
		for _, k := range []string{"last-ok-ping-reply", "last-ping-reply", "info-refresh", "role-reported-time"} {
			delete(m2.Fields, k) // timers moved between the two captures
			delete(m3.Fields, k)
		}
		assert.Equal(t, m3, m2)
	})
	t.Run("failover in progress", func(t *testing.T) {
		m, err := ParseSentinelMaster(readReply(t, "sentinel_master_failover.json"))
		require.NoError(t, err)
		assert.True(t, m.FailoverInProgress())
		assert.True(t, m.HasFlag("o_down"))
		assert.Equal(t, "wait_start", m.FailoverState)
	})
	t.Run("placeholder", func(t *testing.T) {
		m, err := ParseSentinelMaster(readReply(t, "sentinel_master_placeholder.json"))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", m.IP)
		assert.EqualValues(t, 1, m.Port)
		assert.True(t, m.HasFlag("s_down"))
		assert.Empty(t, m.RunID)
	})
	for name, v := range map[string]any{
		"string":    "ERR No such master with that name",
		"odd array": []any{"name"},
		"no ip":     map[string]any{"name": "m", "port": "1"},
		"bad port":  map[string]any{"name": "m", "ip": "10.0.0.1", "port": "x"},
		"bad value": map[string]any{"name": []any{}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSentinelMaster(v)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseSentinelPeers(t *testing.T) {
	t.Run("replicas", func(t *testing.T) {
		got, err := ParseSentinelPeers(readReply(t, "sentinel_replicas.json"))
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, SentinelPeer{Name: "127.0.250.3:6379", IP: "127.0.250.3", Port: 6379,
			RunID: "9217c0cb6233fab95d1ac32cdde2b5af2b2d4a5a", Flags: []string{"slave"},
			MasterHost: "127.0.250.1", MasterPort: 6379, LinkOK: true, Priority: 100, Offset: 0}, got[0])
		assert.Equal(t, "127.0.250.2", got[1].IP)
	})
	t.Run("replica down", func(t *testing.T) {
		got, err := ParseSentinelPeers(readReply(t, "sentinel_replicas_sdown.json"))
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.True(t, got[0].HasFlag("s_down"))
		assert.False(t, got[0].LinkOK)
		assert.Equal(t, "?", got[0].MasterHost)
	})
	t.Run("sentinels", func(t *testing.T) {
		got, err := ParseSentinelPeers(readReply(t, "sentinel_sentinels.json"))
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, "127.0.250.13", got[0].IP)
		assert.EqualValues(t, 26379, got[0].Port)
		assert.True(t, got[0].HasFlag("sentinel"))
		assert.EqualValues(t, -1, got[0].Priority, "sentinels report no replica priority")
		assert.Equal(t, "127.0.250.12", got[1].IP)
	})
	t.Run("empty", func(t *testing.T) {
		got, err := ParseSentinelPeers([]any{})
		require.NoError(t, err)
		assert.Empty(t, got)
	})
	for name, v := range map[string]any{
		"not an array": map[string]any{},
		"no ip":        []any{map[string]any{"port": "1"}},
		"bad entry":    []any{"x"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSentinelPeers(v)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseSentinelDebug(t *testing.T) {
	for _, file := range []string{"sentinel_debug.json", "sentinel_debug_resp2.json"} {
		t.Run(file, func(t *testing.T) {
			got, err := ParseSentinelDebug(readReply(t, file))
			require.NoError(t, err)
			assert.EqualValues(t, 10000, got[infoPeriodKey])
			assert.EqualValues(t, 1000, got["PING-PERIOD"])
		})
	}
	for name, v := range map[string]any{
		"not a map":  int64(1),
		"not number": map[string]any{"INFO-PERIOD": "x"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSentinelDebug(v)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

func TestParseConfigGet(t *testing.T) {
	want := map[string]string{"appendonly": "no", "slave-priority": "100", "maxmemory": "104857600", "save": ""}
	for _, file := range []string{"config_get.json", "config_get_resp2.json"} {
		t.Run(file, func(t *testing.T) {
			got, err := ParseConfigGet(readReply(t, file))
			require.NoError(t, err)
			assert.Equal(t, want, got)
		})
	}
	_, err := ParseConfigGet(int64(1))
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestParseClientList(t *testing.T) {
	got, err := ParseClientList(readText(t, "client_list.txt"))
	require.NoError(t, err)
	assert.Equal(t, []Client{{ID: 3, Cmd: "wait"}, {ID: 4, Cmd: "get"},
		{ID: 6, Cmd: "client|list"}}, got)

	got, err = ParseClientList("txt:id=5 addr=127.0.0.1:2 cmd=set\n")
	require.NoError(t, err, "RESP3 verbatim string")
	assert.Equal(t, []Client{{ID: 5, Cmd: "set"}}, got)
	got, err = ParseClientList("")
	require.NoError(t, err)
	assert.Empty(t, got)
	_, err = ParseClientList("id=x addr=127.0.0.1:1 cmd=get\n")
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestParseSentinelVote(t *testing.T) {
	v, err := ParseSentinelVote([]any{int64(1), "4ac671e9", int64(7)})
	require.NoError(t, err)
	assert.Equal(t, SentinelVote{Leader: "4ac671e9", Epoch: 7}, v)
	v, err = ParseSentinelVote([]any{int64(0), "*", int64(0)})
	require.NoError(t, err)
	assert.Equal(t, SentinelVote{}, v, "no vote yet")
	for _, bad := range []any{"OK", []any{int64(0), "*"}, []any{int64(0), int64(3), int64(1)}} {
		_, err = ParseSentinelVote(bad)
		assert.Error(t, err, "%v", bad)
	}
}
