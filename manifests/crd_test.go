package manifests_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/hooks"
	"github.com/redhook/redhook/manifests/internal/driver"
)

// The CRDs: RedisFailover's, then RedisCluster's.
const (
	crdFile        = "crd/databases.spotahome.com_redisfailovers.yaml"
	clusterCRDFile = "crd/redhook.io_redisclusters.yaml"
)

var (
	crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}
	rfGVK  = driver.RedisFailover
	rcGVK  = driver.RedisCluster
	nsGVK  = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
)

// testManager is the field manager of what the tests themselves write.
const testManager = "redhook-test"

var crdOnce struct {
	sync.Once
	crd, clusterCRD *unstructured.Unstructured
	err             error
}

// installCRD installs the RedisFailover and RedisCluster CRDs (once per test binary) and waits
// until they are Established; every test that stores parents needs them. It returns the
// RedisFailover's (installClusterCRD the RedisCluster's).
func installCRD(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	c := needCluster(t)
	crdOnce.Do(func() {
		crdOnce.crd, crdOnce.err = installCRDFile(c, crdFile)
		if crdOnce.err == nil {
			crdOnce.clusterCRD, crdOnce.err = installCRDFile(c, clusterCRDFile)
		}
	})
	require.NoError(t, crdOnce.err, "install the CRDs")
	return crdOnce.crd
}

func installClusterCRD(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	installCRD(t)
	return crdOnce.clusterCRD
}

// installCRDFile applies a CRD file for real and waits until the CRD is Established and its
// kind is served.
func installCRDFile(c *testCluster, path string) (*unstructured.Unstructured, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CRD: %w", err)
	}
	objs, err := driver.DecodeYAML(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(objs) != 1 || objs[0].GroupVersionKind() != crdGVK {
		return nil, fmt.Errorf("%s: want exactly one CustomResourceDefinition, got %d objects", path, len(objs))
	}
	if _, err := c.client.Apply(ctx, objs[0], driver.ApplyOptions{Manager: testManager}); err != nil {
		return nil, err
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		crd, err := c.client.Get(ctx, crdGVK, "", objs[0].GetName())
		if err != nil {
			return nil, err
		}
		if conditionStatus(crd, "Established") == "True" {
			group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
			kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			ver, _ := versions[0].(map[string]any)["name"].(string)
			if _, err := c.client.Resource(ctx, schema.GroupVersionKind{Group: group, Version: ver, Kind: kind}); err == nil {
				return crd, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("CRD %s not Established and served: %w (conditions: %v)",
				objs[0].GetName(), ctx.Err(), crd.Object["status"])
		case <-tick.C:
		}
	}
}

// conditionStatus returns status.conditions[type].status, "" when absent.
func conditionStatus(obj *unstructured.Unstructured, typ string) string {
	c := condition(obj, typ)
	if c == nil {
		return ""
	}
	s, _ := c["status"].(string)
	return s
}

func condition(obj *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m
		}
	}
	return nil
}

// ensureNamespace creates a namespace for real when it does not exist yet.
func ensureNamespace(t *testing.T, name string) {
	t.Helper()
	c := needCluster(t)
	ns := &unstructured.Unstructured{}
	ns.SetGroupVersionKind(nsGVK)
	ns.SetName(name)
	_, err := c.client.Apply(t.Context(), ns, driver.ApplyOptions{Manager: testManager})
	require.NoError(t, err)
}

// (a) The CRD installs and is Established, with the status and scale subresources and the
// printer columns kubectl shows.
func TestCRDInstalls(t *testing.T) {
	crd := installCRD(t)
	c := cluster

	versions, _, err := unstructured.NestedSlice(crd.Object, "spec", "versions")
	require.NoError(t, err)
	require.Len(t, versions, 1)
	v1, _ := versions[0].(map[string]any)
	assert.Equal(t, "v1", v1["name"])
	sub := unstructured.Unstructured{Object: v1}
	_, hasStatus, _ := unstructured.NestedMap(sub.Object, "subresources", "status")
	assert.True(t, hasStatus, "status subresource")
	specPath, _, _ := unstructured.NestedString(sub.Object, "subresources", "scale", "specReplicasPath")
	assert.Equal(t, ".spec.redis.replicas", specPath, "scale subresource")
	shortNames, _, _ := unstructured.NestedStringSlice(crd.Object, "spec", "names", "shortNames")
	assert.Contains(t, shortNames, "rf")

	// The printer columns as the API server serves them: a Table of RedisFailovers.
	ctx := t.Context()
	assert.Equal(t, []string{"Name", "REDIS", "SENTINELS", "MASTER", "READY", "AGE"}, printerColumns(t, rfGVK))

	// The scale subresource answers for a stored RedisFailover.
	ensureNamespace(t, "crd-scale")
	rf := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "databases.spotahome.com/v1", "kind": "RedisFailover",
		"metadata": map[string]any{"name": "scaled", "namespace": "crd-scale"},
		"spec":     map[string]any{"redis": map[string]any{"replicas": int64(3)}},
	}}
	_, err = c.client.Create(ctx, rf, false)
	require.NoError(t, err)
	p, err := c.client.Path(ctx, rfGVK, "crd-scale", "scaled")
	require.NoError(t, err)
	b, err := c.client.Do(ctx, http.MethodGet, p+"/scale", nil, "", nil)
	require.NoError(t, err)
	var scale struct {
		Kind string `json:"kind"`
		Spec struct {
			Replicas int `json:"replicas"`
		} `json:"spec"`
	}
	require.NoError(t, json.Unmarshal(b, &scale))
	assert.Equal(t, "Scale", scale.Kind)
	assert.Equal(t, 3, scale.Spec.Replicas)
}

// printerColumns are the column names of a Table of gvk's objects, as the API server serves it.
func printerColumns(t *testing.T, gvk schema.GroupVersionKind) []string {
	t.Helper()
	c := needCluster(t)
	ctx := t.Context()
	p, err := c.client.Path(ctx, gvk, "default", "")
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.client.Server+p, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+c.client.Token)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := c.client.HTTP.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var table struct {
		Kind    string `json:"kind"`
		Columns []struct {
			Name string `json:"name"`
		} `json:"columnDefinitions"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&table))
	require.Equal(t, "Table", table.Kind)
	var names []string
	for _, col := range table.Columns {
		names = append(names, col.Name)
	}
	return names
}

// (a) The RedisCluster CRD installs, served as redhook.io/v1alpha1 with the status subresource
// and its printer columns, and the API server fills in the defaults SyncCluster assumes
// (numberOfMaster 3, replicationFactor 1) in what it stores, which is what the hook receives.
func TestClusterCRDInstalls(t *testing.T) {
	crd := installClusterCRD(t)
	c := cluster
	ctx := t.Context()
	versions, _, err := unstructured.NestedSlice(crd.Object, "spec", "versions")
	require.NoError(t, err)
	require.Len(t, versions, 1)
	v, _ := versions[0].(map[string]any)
	assert.Equal(t, hooks.ClusterVersion, v["name"])
	_, hasStatus, _ := unstructured.NestedMap(v, "subresources", "status")
	assert.True(t, hasStatus, "status subresource")
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	assert.Equal(t, hooks.ClusterGroup, group)
	assert.Equal(t, []string{"Name", "MASTERS", "REPLICAS PER MASTER", "STATE", "READY", "AGE"}, printerColumns(t, rcGVK))

	ensureNamespace(t, "crd-cluster")
	rc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": hooks.ClusterAPIVersion, "kind": hooks.ClusterKind,
		"metadata": map[string]any{"name": "defaults", "namespace": "crd-cluster"},
	}}
	stored, err := c.client.Create(ctx, rc, false)
	require.NoError(t, err)
	n, _, _ := unstructured.NestedInt64(stored.Object, "spec", "numberOfMaster")
	f, found, _ := unstructured.NestedInt64(stored.Object, "spec", "replicationFactor")
	assert.Equal(t, int64(hooks.DefaultNumberOfMaster), n)
	require.True(t, found, "replicationFactor defaulted")
	assert.Equal(t, int64(hooks.DefaultReplicationFactor), f)
	// What the API server stored is what ValidateCluster accepts and SyncCluster defaults to.
	var parent hooks.RedisCluster
	b, err := json.Marshal(stored.Object)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &parent))
	assert.Empty(t, hooks.ValidateCluster(&parent))
	assert.Equal(t, parent.Spec.NumberOfMaster, parent.WithDefaults().Spec.NumberOfMaster)
	assert.Equal(t, *parent.Spec.ReplicationFactor, *parent.WithDefaults().Spec.ReplicationFactor)
}

// (b) Every example is accepted as it is: the Secrets and the RedisFailover of each file pass a
// server-side dry-run create with strict field validation.
func TestExamplesAccepted(t *testing.T) {
	installCRD(t)
	c := cluster
	ensureNamespace(t, "examples")
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			objs := readYAML(t, f)
			var parents int
			for _, obj := range objs {
				if k := obj.GroupVersionKind(); k == rfGVK || k == rcGVK {
					parents++
				}
				obj.SetNamespace("examples")
				_, err := c.client.Create(t.Context(), obj, true)
				assert.NoError(t, err, driver.Describe(obj))
			}
			assert.Equal(t, 1, parents, "one RedisFailover or RedisCluster per example")
		})
	}
}

// (b) Every file of testdata/invalid is rejected by the API server (OpenAPI and CEL rules of the
// CRD) with the message of its "# expect: ..." lines.
func TestInvalidRejected(t *testing.T) {
	installCRD(t)
	c := cluster
	ensureNamespace(t, "invalid")
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			expect := expectations(t, f)
			require.NotEmpty(t, expect, "%s has no # expect: line", f)
			objs := readYAML(t, f)
			require.Len(t, objs, 1, "one parent per invalid file")
			obj := objs[0]
			obj.SetNamespace("invalid")
			_, err := c.client.Create(t.Context(), obj, true)
			require.Error(t, err, "the API server accepted %s", f)
			for _, e := range expect {
				assert.Contains(t, err.Error(), e)
			}
		})
	}
}

// expectations returns the texts of the "# expect: ..." lines at the top of a file.
func expectations(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		if e, ok := strings.CutPrefix(line, "# expect: "); ok {
			out = append(out, e)
		}
	}
	require.NoError(t, s.Err())
	return out
}
