package hooks

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	for _, c := range loadClusterCases(t) {
		t.Run(c.name, func(t *testing.T) {
			again, err := DecodeClusterSyncRequest(c.raw)
			require.NoError(t, err)
			a := encodeResponse(t, SyncCluster(&c.req, c.obs))
			b := encodeResponse(t, SyncCluster(&again, c.obs))
			assert.True(t, bytes.Equal(a, b))
		})
	}
}
