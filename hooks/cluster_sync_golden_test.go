package hooks

import "testing"

// The RedisCluster goldens: testdata/sync-cluster/*, the same layout as testdata/sync, the
// observation being a ClusterReport. `make golden` rewrites them too.

func loadClusterCases(t testing.TB) []goldenFolder[ClusterSyncRequest, ClusterReport] {
	return loadGoldenFolders[ClusterSyncRequest, ClusterReport](t, "sync-cluster", DecodeClusterSyncRequest)
}

func TestSyncClusterGolden(t *testing.T) {
	for _, c := range loadClusterCases(t) {
		t.Run(c.name, func(t *testing.T) {
			assertGolden(t, c.dir, encodeResponse(t, SyncCluster(&c.req, c.obs)))
		})
	}
}

// TestSyncClusterDeterministic: the same request decoded twice gives byte-identical responses.
func TestSyncClusterDeterministic(t *testing.T) {
	assertDeterministic(t, loadClusterCases(t), DecodeClusterSyncRequest,
		func(r *ClusterSyncRequest, o ClusterReport) any { return SyncCluster(r, o) })
}
