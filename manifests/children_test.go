package manifests_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/redhook/redhook/hooks"
	"github.com/redhook/redhook/manifests/internal/driver"
)

// (c) Every child redhook renders — for every example and every golden sync case — passes a
// server-side apply with dry-run=All: the real API server's validation of StatefulSets,
// Deployments, Services, EndpointSlices, PodDisruptionBudgets, ConfigMaps and Secrets, with
// strict field validation (an unknown field would be silently dropped by Metacontroller).
// A rejection here is a bug of the renderer, never of this test.

// goldenDir is one case of the hooks' goldens: hooks/testdata/sync/NAME (RedisFailover, named
// NAME here) or hooks/testdata/sync-cluster/NAME (RedisCluster, named cluster-NAME here, so that
// the namespaces of the two kinds' cases never meet).
type goldenDir struct {
	name, dir string
	cluster   bool
}

func (g goldenDir) response() string { return filepath.Join(g.dir, "response.golden.json") }

// goldenDirs lists the golden cases of both kinds, RedisFailover first.
func goldenDirs(t *testing.T) []goldenDir {
	t.Helper()
	var out []goldenDir
	for _, kind := range []struct {
		folder, prefix string
		cluster        bool
	}{{"sync", "", false}, {"sync-cluster", "cluster-", true}} {
		dirs, err := filepath.Glob(filepath.Join("..", "hooks", "testdata", kind.folder, "*"))
		require.NoError(t, err)
		require.NotEmpty(t, dirs, "no golden case in hooks/testdata/%s", kind.folder)
		for _, d := range dirs {
			out = append(out, goldenDir{name: kind.prefix + filepath.Base(d), dir: d, cluster: kind.cluster})
		}
	}
	return out
}

func TestGoldenChildrenValid(t *testing.T) {
	installCRD(t)
	for _, g := range goldenDirs(t) {
		f := g.response()
		t.Run(g.name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			var resp struct {
				Children []map[string]any `json:"children"`
			}
			require.NoError(t, json.Unmarshal(b, &resp))
			applyChildrenDryRun(t, resp.Children)
		})
	}
}

// The status of every golden case passes the CRD's status schema, written as Metacontroller
// writes it: through the status subresource, with observedGeneration. A parent the CRD itself
// refuses at admission (a name too long, a value of the wrong type) never reaches the hook, so
// its status is never written either.
func TestGoldenStatusValid(t *testing.T) {
	installCRD(t)
	c := cluster
	for _, g := range goldenDirs(t) {
		f, dir := g.response(), g.dir
		t.Run(g.name, func(t *testing.T) {
			ctx := t.Context()
			var req struct {
				Parent map[string]any `json:"parent"`
			}
			var resp struct {
				Status map[string]any `json:"status"`
			}
			readJSON(t, filepath.Join(dir, "request.json"), &req)
			readJSON(t, f, &resp)
			require.NotNil(t, resp.Status, "a response without status wipes the status")
			parent := &unstructured.Unstructured{Object: req.Parent}
			ensureNamespace(t, parent.GetNamespace())
			// Stored for real (status subresources need an object): what the API server sets
			// itself is left out.
			parent.SetResourceVersion("")
			parent.SetUID("")
			parent.SetCreationTimestamp(metav1.Time{})
			parent.SetGeneration(0)
			delete(parent.Object, "status")
			stored, err := c.client.Apply(ctx, parent, driver.ApplyOptions{Manager: testManager})
			if err != nil {
				t.Skipf("the CRD refuses this parent at admission, the hook never sees it: %v", err)
			}
			t.Cleanup(func() {
				assert.NoError(t, c.client.Delete(context.Background(), stored.GroupVersionKind(), stored.GetNamespace(), stored.GetName()))
			})
			resp.Status["observedGeneration"] = stored.GetGeneration()
			stored.Object["status"] = resp.Status
			_, err = c.client.PutStatus(ctx, stored, true)
			assert.NoError(t, err, "the API server rejects the status redhook returned")
		})
	}
}

// The update path: for every golden case that observes children, the observed children are
// stored for real (in a namespace of their own), then every child of the response is applied
// over them with dry-run=All — what Metacontroller does. This is where immutable fields bite
// (a StatefulSet's selector, serviceName or volumeClaimTemplates, a Deployment's selector, a
// Service's clusterIP).
func TestGoldenUpdatesValid(t *testing.T) {
	installCRD(t)
	c := cluster
	for _, g := range goldenDirs(t) {
		dir, name := g.dir, g.name
		f := filepath.Join(dir, "request.json")
		var req struct {
			Children map[string]map[string]map[string]any `json:"children"`
		}
		readJSON(t, f, &req)
		var observed []*unstructured.Unstructured
		for _, objs := range req.Children {
			for _, o := range objs {
				observed = append(observed, &unstructured.Unstructured{Object: o})
			}
		}
		if len(observed) == 0 {
			continue
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			ns := "update-" + name
			ensureNamespace(t, ns)
			for _, o := range observed {
				o.SetNamespace(ns)
				o.SetResourceVersion("")
				o.SetUID("")
				o.SetCreationTimestamp(metav1.Time{})
				o.SetGeneration(0)
				o.SetManagedFields(nil)
				delete(o.Object, "status")
				_, err := c.client.Apply(ctx, o, driver.ApplyOptions{Manager: driver.MetacontrollerManager})
				require.NoError(t, err, "store the observed child of the fixture")
				// The fixtures share Service cluster IPs: free them for the next case.
				t.Cleanup(func() {
					assert.NoError(t, c.client.Delete(context.Background(), o.GroupVersionKind(), ns, o.GetName()))
				})
			}
			var resp struct {
				Children []map[string]any `json:"children"`
			}
			readJSON(t, filepath.Join(dir, "response.golden.json"), &resp)
			for _, child := range resp.Children {
				child["metadata"].(map[string]any)["namespace"] = ns
			}
			applyChildrenDryRun(t, resp.Children)
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, v), path)
}

// readYAML reads and decodes a YAML file.
func readYAML(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	objs, err := driver.DecodeYAML(b)
	require.NoError(t, err, path)
	return objs
}

func TestExampleChildrenValid(t *testing.T) {
	installCRD(t)
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			children := renderExample(t, f, "examples-children")
			require.NotEmpty(t, children, "no child rendered for %s", f)
			applyChildrenDryRun(t, children)
		})
	}
}

// renderExample runs hooks.Sync on the first sync of an example file: its RedisFailover as the
// parent in namespace, its Secrets as related objects, no children yet.
func renderExample(t *testing.T, path, namespace string) []map[string]any {
	t.Helper()
	ensureNamespace(t, namespace)
	related := map[string]map[string]any{hooks.KeySecret: {}, hooks.KeyPod: {}}
	var parent *unstructured.Unstructured
	for _, obj := range readYAML(t, path) {
		obj.SetNamespace(namespace)
		switch obj.GroupVersionKind() {
		case rfGVK, rcGVK:
			parent = obj
		case secretGVK:
			// As Metacontroller would observe it: stored by the API server (stringData → data).
			stored, err := needCluster(t).client.Create(t.Context(), obj, true)
			require.NoError(t, err)
			related[hooks.KeySecret][namespace+"/"+obj.GetName()] = stored.Object
		default:
			t.Fatalf("%s: unexpected %s", path, driver.Describe(obj))
		}
	}
	require.NotNil(t, parent, "%s has no RedisFailover or RedisCluster", path)
	parent.SetUID("00000000-0000-4000-8000-000000000001")
	parent.SetGeneration(1)
	children := map[string]map[string]any{}
	for _, k := range childKeys {
		children[k] = map[string]any{}
	}
	body, err := json.Marshal(map[string]any{
		"controller": map[string]any{}, "parent": parent.Object,
		"children": children, "related": related, "finalizing": false,
	})
	require.NoError(t, err)
	var rendered []any
	if parent.GroupVersionKind() == rcGVK {
		req, err := hooks.DecodeClusterSyncRequest(body)
		require.NoError(t, err)
		rendered = hooks.SyncCluster(&req, hooks.ClusterReport{}).Children
	} else {
		req, err := hooks.DecodeSyncRequest(body)
		require.NoError(t, err)
		rendered = hooks.Sync(&req, hooks.HealerReport{}).Children
	}
	b, err := json.Marshal(rendered)
	require.NoError(t, err)
	var out []map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// applyChildrenDryRun applies every child with dry-run=All in its namespace (created for
// real), as Metacontroller's field manager.
func applyChildrenDryRun(t *testing.T, children []map[string]any) {
	t.Helper()
	c := needCluster(t)
	for _, child := range children {
		obj := &unstructured.Unstructured{Object: child}
		require.NotEmpty(t, obj.GetNamespace(), "child %s has no namespace", driver.Describe(obj))
		ensureNamespace(t, obj.GetNamespace())
		t.Run(fmt.Sprintf("%s/%s", obj.GetKind(), obj.GetName()), func(t *testing.T) {
			_, err := c.client.Apply(t.Context(), obj, driver.ApplyOptions{Manager: driver.MetacontrollerManager, DryRun: true})
			assert.NoError(t, err, "the API server rejects a rendered child: a renderer bug")
		})
	}
}
