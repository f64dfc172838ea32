package manifests_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/hooks"
	"github.com/redhook/redhook/manifests/internal/driver"
)

// (g) Zero writes at steady state, driven for real. A RedisFailover with a PVC template
// (examples/persistence.yaml) runs against `redhook serve`; once settled, 10 more sync passes
// write no child. The RedisFailover has no pods (the test cluster has no kubelet), so its master
// and replicas EndpointSlices are empty: that, and the StatefulSet's claim templates, are the
// two children that were written on every sync before they were rendered as the server stores
// them. EndpointSlices with addresses are checked as fixed points in fixedpoint_test.go (the
// goldens with a master). Running real pods is the e2e tests' job: the API server refuses
// loopback addresses in an EndpointSlice, and a test here must not listen anywhere else.
//
// The driver applies with server-side apply, which is a no-op for a field whose value the
// server stores in another form; Metacontroller's 3-way merge is not. So every pass also checks
// the children the hook returns against the stored ones as that merge sees them (see
// fixedPointDiffs): that is the part that fails when a renderer is not a fixed point.
func TestSteadyStateWritesNothing(t *testing.T) {
	const ns, name = "steady-state", "persistence"
	b, err := os.ReadFile("examples/persistence.yaml")
	require.NoError(t, err)
	d := newDriver(t, ns, string(b))
	require.Equal(t, name, d.name)
	ctx := t.Context()

	// Settled: a pass changes no child.
	deadline := time.Now().Add(time.Minute)
	for d.pass(ctx).Changed() {
		if time.Now().After(deadline) {
			t.Fatal("still changing children after a minute")
		}
		time.Sleep(500 * time.Millisecond)
	}
	assert.Equal(t, "[]", sliceAddresses(t, ns, "rfrm-"+name), "no master without pods")
	assert.Equal(t, "[]", sliceAddresses(t, ns, "rfrs-"+name), "no replica without pods")
	sts, err := d.c.client.Get(ctx, stsGVK, ns, "rfr-"+name)
	require.NoError(t, err)
	claims, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	require.Len(t, claims, 1, "the StatefulSet has its PVC template")

	d.assertSteady(ctx, 14)
}

// The same for a RedisCluster (examples/cluster.yaml, driven through the redhook-cluster
// CompositeController and /sync-cluster): once its children exist, sync passes write none. Its
// report is unknown (no cluster healer yet), so SyncCluster returns the children it created as
// they were last applied: the 3-way merge check below is what holds the rendered children, the
// goldens' as well (TestGoldenChildrenFixedPoint), to what the server stores.
func TestClusterSteadyStateWritesNothing(t *testing.T) {
	const ns = "steady-state-cluster"
	b, err := os.ReadFile("examples/cluster.yaml")
	require.NoError(t, err)
	d := newDriver(t, ns, string(b))
	require.Equal(t, rcGVK, d.kind)
	ctx := t.Context()
	first := d.pass(ctx)
	assert.ElementsMatch(t, first.Desired, first.Applied, "every child is created")
	d.settle(ctx)
	// A ConfigMap, two Services, and a StatefulSet and a PodDisruptionBudget per shard.
	d.assertSteady(ctx, 3+2*3)
	shard, err := d.c.client.Get(ctx, stsGVK, ns, hooks.ClusterShardName(d.name, 2))
	require.NoError(t, err)
	claims, _, _ := unstructured.NestedSlice(shard.Object, "spec", "volumeClaimTemplates")
	require.Len(t, claims, 1, "the shard StatefulSet has its PVC template")
}

// assertSteady checks that 10 more sync passes of a settled parent with children children write
// nothing: no apply changes a child, none is deleted, and Metacontroller's 3-way merge of what the
// hook returns with what is stored is what is stored.
func (d *testDriver) assertSteady(ctx context.Context, children int) {
	t := d.t
	t.Helper()
	before := childVersions(d.snapshot(ctx), d.kind.Kind+"/"+d.name)
	require.Len(t, before, children, "every child exists")
	for i := range 10 {
		r := d.pass(ctx)
		assert.Empty(t, r.Applied, "pass %d: children the driver's apply changed", i+1)
		assert.Empty(t, r.Deleted, "pass %d: children deleted", i+1)
		for _, diff := range d.mergeDiffs(ctx) {
			t.Errorf("pass %d: a 3-way merge writes %s", i+1, diff)
		}
		time.Sleep(200 * time.Millisecond)
	}
	assert.Equal(t, before, childVersions(d.snapshot(ctx), d.kind.Kind+"/"+d.name), "resourceVersions of the children")
}

// sliceAddresses lists the addresses of an EndpointSlice, sorted, for comparison.
func sliceAddresses(t *testing.T, ns, name string) string {
	t.Helper()
	s, err := needCluster(t).client.Get(t.Context(), schema.GroupVersionKind{Group: "discovery.k8s.io",
		Version: "v1", Kind: "EndpointSlice"}, ns, name)
	if driver.IsNotFound(err) {
		return "absent"
	}
	require.NoError(t, err)
	eps, _, _ := unstructured.NestedSlice(s.Object, "endpoints")
	var out []string
	for _, e := range eps {
		addrs, _, _ := unstructured.NestedStringSlice(e.(map[string]any), "addresses")
		out = append(out, addrs...)
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}

// childVersions is a snapshot without the parent (Kind/name).
func childVersions(snap map[string]string, parent string) map[string]string {
	delete(snap, parent)
	return snap
}

// mergeDiffs asks the hook for the desired children as a sync pass does, decorates them as
// Metacontroller does, and returns every place where Metacontroller's 3-way merge of each
// stored child with them differs from the stored child: each is a write on every sync.
func (d *testDriver) mergeDiffs(ctx context.Context) []string {
	d.t.Helper()
	parent, observed, resp, err := d.Sync(ctx, d.namespace, d.name)
	require.NoError(d.t, err)
	var out []string
	for _, child := range resp.Children {
		obj, err := driver.Decorate(&unstructured.Unstructured{Object: child}, parent)
		require.NoError(d.t, err)
		stored := observed[driver.WireKey(obj.GroupVersionKind())][d.namespace+"/"+obj.GetName()]
		if stored == nil {
			out = append(out, obj.GetKind()+"/"+obj.GetName()+": not stored")
			continue
		}
		for _, diff := range fixedPointDiffs("", obj.Object, stored.Object) {
			out = append(out, obj.GetKind()+"/"+obj.GetName()+" "+diff)
		}
	}
	return out
}
