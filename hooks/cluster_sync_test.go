package hooks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func findClusterCase(t *testing.T, name string) goldenFolder[ClusterSyncRequest, ClusterReport] {
	t.Helper()
	for _, c := range loadClusterCases(t) {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no cluster golden case %q", name)
	return goldenFolder[ClusterSyncRequest, ClusterReport]{}
}

// childNames lists Kind/name of every child of a response.
func childNames(t *testing.T, resp ClusterSyncResponse) []string {
	t.Helper()
	b, err := json.Marshal(resp.Children)
	require.NoError(t, err)
	var children []struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	require.NoError(t, json.Unmarshal(b, &children))
	var out []string
	for _, c := range children {
		out = append(out, c.Kind+"/"+c.Metadata.Name)
	}
	return out
}

// A shard that a scale-in removes stays while it holds slots or its nodes are known, whatever
// else the report says, and goes once the healer reports it empty and forgotten.
func TestSyncClusterScaleInHeldUntilReleased(t *testing.T) {
	c := findClusterCase(t, "scale-in-held")
	leaving := []string{"StatefulSet/rdc-orders-3", "PodDisruptionBudget/rdc-orders-3"}
	for _, tc := range []struct {
		name      string
		slots     int32
		forgotten bool
		kept      bool
	}{
		{"holds slots", 4096, false, true},
		{"empty, not forgotten", 0, false, true},
		{"forgotten but holds slots", 12, true, true},
		{"empty and forgotten", 0, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := c.obs
			obs.Shards = append([]ClusterShardReport(nil), c.obs.Shards...)
			obs.Shards[3].Slots, obs.Shards[3].Forgotten = tc.slots, tc.forgotten
			names := childNames(t, SyncCluster(&c.req, obs))
			for _, l := range leaving {
				assert.Equal(t, tc.kept, contains(names, l), l)
			}
			assert.Contains(t, names, "StatefulSet/rdc-orders-2")
		})
	}
	// Unknown report: nothing is deleted.
	names := childNames(t, SyncCluster(&c.req, ClusterReport{}))
	for _, l := range leaving {
		assert.Contains(t, names, l)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The password reaches the pods only through the Secret reference and the healer through the
// topology: never a child, never the status.
func TestSyncClusterPasswordNowhereButTopology(t *testing.T) {
	c := findClusterCase(t, "auth")
	resp, topo, ok := SyncClusterWithTopology(&c.req, c.obs)
	require.True(t, ok)
	const password = "s3cr3t w0rd"
	assert.Equal(t, password, topo.Password.Value())
	b, err := json.Marshal(resp)
	require.NoError(t, err)
	assert.NotContains(t, string(b), password)
	assert.NotContains(t, string(b), "czNjcjN0")
	tb, err := json.Marshal(topo)
	require.NoError(t, err)
	assert.NotContains(t, string(tb), password, "the topology marshals its password redacted")
}

func TestClusterTopology(t *testing.T) {
	c := findClusterCase(t, "rollout-master-outdated")
	_, topo, ok := SyncClusterWithTopology(&c.req, c.obs)
	require.True(t, ok)
	assert.Equal(t, "shop/orders", topo.Key())
	assert.Equal(t, int32(3), topo.NumberOfMaster)
	assert.Equal(t, int32(1), topo.ReplicationFactor)
	assert.Equal(t, int32(16379), topo.BusPort)
	assert.Equal(t, int64(5000), topo.NodeTimeout)
	require.Len(t, topo.Nodes, 6)
	assert.Equal(t, ClusterNodeRef{Pod: "rdc-orders-0-0", IP: "10.0.3.10", Shard: 0, Ordinal: 0, Ready: true}, topo.Nodes[0],
		"shard 0's pods are on the old revision")
	assert.Equal(t, ClusterNodeRef{Pod: "rdc-orders-1-1", IP: "10.0.3.21", Shard: 1, Ordinal: 1, Ready: true, Updated: true}, topo.Nodes[3])

	held := findClusterCase(t, "invalid-spec")
	_, topo, ok = SyncClusterWithTopology(&held.req, held.obs)
	assert.False(t, ok)
	assert.True(t, topo.Held)
	assert.Len(t, topo.Nodes, 6, "the pods, even while held")
	assert.Zero(t, topo.NumberOfMaster)

	in := findClusterCase(t, "scale-in-held")
	_, topo, _ = SyncClusterWithTopology(&in.req, in.obs)
	assert.Equal(t, []int{3}, topo.LeavingShards)
}

// A value of the wrong type (which the CRD refuses at admission) holds every child and is reported
// with its spec path, as for a RedisFailover.
func TestSyncClusterWrongType(t *testing.T) {
	c := findClusterCase(t, "steady")
	var raw map[string]any
	require.NoError(t, json.Unmarshal(c.raw, &raw))
	raw["parent"].(map[string]any)["spec"] = map[string]any{"numberOfMaster": "three"}
	b, err := json.Marshal(raw)
	require.NoError(t, err)
	req, err := DecodeClusterSyncRequest(b)
	require.NoError(t, err)
	require.Error(t, req.ParentError)
	resp := SyncCluster(&req, c.obs)
	assertHeld(t, req.Children, resp.Children)
	for _, cond := range resp.Status.Conditions {
		if cond.Type == ConditionSpecValid {
			assert.Equal(t, "False", string(cond.Status))
			assert.Contains(t, cond.Message, "spec.numberOfMaster: a JSON string where int32 is expected")
		}
	}
}

// A report in which no node answered (no pod yet, as in the API-server tests, or none reachable)
// is no cluster state at all: Ready and Available say so, and Degraded is the pods' business.
func TestSyncClusterNoNodeAnswers(t *testing.T) {
	c := findClusterCase(t, "bootstrap")
	obs := ClusterReport{Time: c.req.Parent.CreationTimestamp.Add(time.Minute)}
	conds := map[string]metav1.Condition{}
	for _, cond := range SyncCluster(&c.req, obs).Status.Conditions {
		conds[cond.Type] = cond
	}
	assert.Equal(t, "NoClusterState", conds[ConditionReady].Reason)
	assert.Equal(t, metav1.ConditionFalse, conds[ConditionAvailable].Status)
	assert.Equal(t, metav1.ConditionFalse, conds[ConditionDegraded].Status, conds[ConditionDegraded].Message)

	obs.ClusterState = ClusterStateFail
	for _, cond := range SyncCluster(&c.req, obs).Status.Conditions {
		if cond.Type == ConditionDegraded {
			assert.Equal(t, "ClusterStateFail", cond.Reason)
		}
	}
}

func TestClusterNodeTimeout(t *testing.T) {
	rc := &RedisCluster{}
	assert.Equal(t, int64(DefaultNodeTimeout), clusterNodeTimeout(rc))
	rc.Spec.CustomConfig = []string{"cluster-node-timeout 3000", "maxmemory 1gb", "cluster-node-timeout 15000"}
	assert.Equal(t, int64(15000), clusterNodeTimeout(rc), "the last line wins, as in redis.conf")
}

func TestValidateCluster(t *testing.T) {
	rc := &RedisCluster{}
	rc.Name = strings.Repeat("a", 46)
	rc.Spec.NumberOfMaster = 101
	rc.Spec.ReplicationFactor = ptr(int32(6))
	rc.Spec.CustomConfig = []string{"cluster-config-file /tmp/x", "replicaof 10.0.0.1 6379", "maxmemory 1gb", "no-such-option 1"}
	rc.Spec.Auth.SecretPath = "Not_A_Name"
	rc.Spec.ImagePullPolicy = "Sometimes"
	var paths []string
	for _, e := range ValidateCluster(rc) {
		paths = append(paths, e.Path)
	}
	assert.Equal(t, []string{"metadata.name", "spec.numberOfMaster", "spec.replicationFactor", "spec.imagePullPolicy",
		"spec.customConfig[0]", "spec.customConfig[1]", "spec.customConfig[3]", "spec.auth.secretPath"}, paths)

	clash := &RedisCluster{}
	clash.Name = "cache-nodes"
	errs := ValidateCluster(clash)
	if assert.Len(t, errs, 1) {
		assert.Equal(t, "metadata.name", errs[0].Path)
		assert.Contains(t, errs[0].Message, `"cache"`, "names the RedisCluster it would clash with")
	}
	assert.Equal(t, ClusterNodesName("cache"), ClusterClientName(clash.Name), "the clash the check refuses")

	ok := &RedisCluster{}
	ok.Name = strings.Repeat("a", MaxClusterNameLength)
	assert.Empty(t, ValidateCluster(ok))
	ok.Name = "nodes"
	assert.Empty(t, ValidateCluster(ok), "no -nodes suffix")
	// The longest child names fit: the shard StatefulSet of index 99 and its revision label.
	assert.LessOrEqual(t, len(ClusterShardName(ok.Name, 99))+11, 63)
}
