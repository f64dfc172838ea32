package manifests_test

// (e) The test driver: manifests/internal/driver does what Metacontroller does for one
// RedisFailover, speaking its v2 hook wire format to a running `redhook serve`, against the real
// API server: customize → gather the related objects → gather the owned children → sync → apply
// the desired children (server-side apply as field manager "metacontroller", with the
// controller-uid label and the controller ownerReference Metacontroller adds) → delete the owned
// children that were not returned → write the status through the status subresource (with
// observedGeneration). Here it runs pass by pass, each pass checked by the test.
// See docs/architecture.md ("The wire protocol and its traps") and hooks/wire.go.

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
	"github.com/redhook/redhook/manifests/internal/driver"
)

var secretGVK = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}

// Kinds the tests address directly.
var (
	cmGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	stsGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
)

// childKeys are the keys of the declared child types in a sync request's children map.
var childKeys = []string{hooks.KeyConfigMap, hooks.KeySecret, hooks.KeyService, hooks.KeyEndpointSlice,
	hooks.KeyStatefulSet, hooks.KeyDeployment, hooks.KeyPDB}

// testDriver runs sync passes of one parent (a RedisFailover or a RedisCluster) against a hook
// server, failing the test on what Metacontroller would report as a sync error.
type testDriver struct {
	*driver.Driver
	t         *testing.T
	c         *testCluster
	namespace string
	name      string
	kind      schema.GroupVersionKind // of the parent
}

// pass runs one sync of the RedisFailover, as Metacontroller would after a watch event.
func (d *testDriver) pass(ctx context.Context) driver.PassResult {
	d.t.Helper()
	r, err := d.Pass(ctx, d.namespace, d.name)
	require.NoError(d.t, err)
	// A rejection is a renderer bug: reported, never worked around.
	for _, err := range r.Rejected {
		assert.NoError(d.t, err)
	}
	return r
}

// settle runs passes until one changes no child, as Metacontroller's resyncs would.
func (d *testDriver) settle(ctx context.Context) driver.PassResult {
	d.t.Helper()
	for range 10 {
		if r := d.pass(ctx); !r.Changed() {
			return r
		}
		time.Sleep(300 * time.Millisecond) // the healer's pass runs in the background
	}
	d.t.Fatalf("children still change after 10 sync passes")
	return driver.PassResult{}
}

// snapshot returns the resourceVersion of the parent and of every owned child.
func (d *testDriver) snapshot(ctx context.Context) map[string]string {
	parent, err := d.c.client.Get(ctx, d.kind, d.namespace, d.name)
	require.NoError(d.t, err)
	out := map[string]string{d.kind.Kind + "/" + d.name: parent.GetResourceVersion()}
	children, err := d.Children(ctx, parent)
	require.NoError(d.t, err)
	for _, objs := range children {
		for _, o := range objs {
			out[o.GetKind()+"/"+o.GetName()] = o.GetResourceVersion()
		}
	}
	return out
}

var hookServer struct {
	sync.Once
	url string
	log string
	err error
}

// startHookServer builds and starts `redhook serve` on a free loopback port, once per test
// binary; it is stopped with the cluster (testCluster.stop) and must exit cleanly.
func startHookServer(t *testing.T) string {
	t.Helper()
	c := needCluster(t)
	hookServer.Do(func() { hookServer.url, hookServer.log, hookServer.err = c.startHookServer() })
	require.NoError(t, hookServer.err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redhook serve log (tail):\n%s", tail(hookServer.log, 40))
		}
	})
	return hookServer.url
}

func (c *testCluster) startHookServer() (url, log string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(c.dir, "redhook")
	if _, err := run(ctx, goBinary(), "build", "-o", bin, "../cmd/redhook"); err != nil {
		return "", "", err
	}
	port, err := redistest.FreePort()
	if err != nil {
		return "", "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	log = filepath.Join(c.dir, "redhook.log")
	p, err := startProcess("redhook serve", log, bin, "serve", "--listen", addr, "--log-level", "debug")
	if err != nil {
		return "", "", err
	}
	c.procs = append(c.procs, p) // stopped first, before the API server
	client := driver.NewHTTPClient(nil)
	defer client.CloseIdleConnections()
	err = waitFor(ctx, p, func() error {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("redhook serve: %w\n%s", err, tail(log, 20))
	}
	return "http://" + addr, log, nil
}

// goBinary is the go command that runs the tests: `go test` puts its GOROOT/bin first in PATH.
func goBinary() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// declaredChildTypes are the kinds of a CompositeController's childResources.
func declaredChildTypes(t *testing.T, controller *unstructured.Unstructured) []schema.GroupVersionKind {
	t.Helper()
	out, err := driver.ChildTypesOf(t.Context(), needCluster(t).client, controller)
	require.NoError(t, err)
	return out
}

// controllerFiles are the CompositeControllers of manifests/, by parent kind.
var controllerFiles = map[schema.GroupVersionKind]string{
	rfGVK: "compositecontroller.yaml",
	rcGVK: "compositecontroller-cluster.yaml",
}

// newDriver creates the objects of a YAML stream for real in a new namespace and returns a
// driver for its parent (a RedisFailover or a RedisCluster), through that kind's
// CompositeController.
func newDriver(t *testing.T, ns, stream string) *testDriver {
	t.Helper()
	installCRD(t)
	c := cluster
	ensureNamespace(t, ns)
	objs, err := driver.DecodeYAML([]byte(stream))
	require.NoError(t, err)
	d := &testDriver{t: t, c: c, namespace: ns}
	for _, o := range objs {
		if _, ok := controllerFiles[o.GroupVersionKind()]; ok {
			d.name, d.kind = o.GetName(), o.GroupVersionKind()
		}
	}
	require.NotEmpty(t, d.name, "no RedisFailover or RedisCluster in the stream")
	controller := readYAML(t, controllerFiles[d.kind])
	require.Len(t, controller, 1)
	hc := driver.NewHTTPClient(nil)
	t.Cleanup(hc.CloseIdleConnections)
	d.Driver = &driver.Driver{Client: c.client,
		Hook: driver.Hook{Base: startHookServer(t), HTTP: hc}, Controller: controller[0].Object,
		ChildTypes: declaredChildTypes(t, controller[0]), Logf: t.Logf}
	for _, o := range objs {
		o.SetNamespace(ns)
		_, err := c.client.Create(t.Context(), o, false)
		require.NoError(t, err)
	}
	return d
}

func TestHookDriver(t *testing.T) {
	const ns, name = "driver", "cache"
	d := newDriver(t, ns, `
apiVersion: v1
kind: Secret
metadata: {name: cache-auth}
stringData: {password: a-long-test-password}
---
apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: cache}
spec:
  auth: {secretPath: cache-auth}
  redis:
    replicas: 3
    customConfig: ["maxmemory 100mb"]
  sentinel:
    replicas: 3
`)
	c := cluster
	ctx := t.Context()

	// First pass: every child is created and the status is written.
	first := d.pass(ctx)
	require.NotEmpty(t, first.Desired)
	assert.ElementsMatch(t, first.Desired, first.Applied, "every child is created")
	for _, want := range []string{"StatefulSet/rfr-cache", "Deployment/rfs-cache", "Service/rfs-cache",
		"Secret/rfr-auth-cache", "ConfigMap/rfr-cache"} {
		assert.Contains(t, first.Desired, want)
	}
	byName, err := c.client.List(ctx, stsGVK, ns, "app.kubernetes.io/name="+name)
	require.NoError(t, err)
	assert.Len(t, byName, 1, "the StatefulSet carries app.kubernetes.io/name")
	snap := d.snapshot(ctx)
	for _, child := range first.Desired {
		assert.Contains(t, snap, child, "child exists after the first pass")
	}
	assert.NotEmpty(t, first.Status["conditions"], "status.conditions set")
	rf, err := c.client.Get(ctx, rfGVK, ns, name)
	require.NoError(t, err)
	assert.NotEmpty(t, conditionStatus(rf, "SpecValid"), "SpecValid condition")
	og, _, _ := unstructured.NestedInt64(rf.Object, "status", "observedGeneration")
	assert.Equal(t, rf.GetGeneration(), og)

	t.Run("second pass changes nothing", func(t *testing.T) {
		d.settle(ctx)
		before := d.snapshot(ctx)
		r := d.pass(ctx)
		assert.Empty(t, r.Applied)
		assert.Empty(t, r.Deleted)
		assert.Equal(t, before, d.snapshot(ctx), "resourceVersions of the parent and its children")
	})

	t.Run("deleted child comes back", func(t *testing.T) {
		for _, gvk := range []schema.GroupVersionKind{stsGVK, cmGVK} {
			require.NoError(t, c.client.Delete(ctx, gvk, ns, "rfr-cache"))
		}
		r := d.pass(ctx)
		assert.Contains(t, r.Applied, "StatefulSet/rfr-cache")
		assert.Contains(t, r.Applied, "ConfigMap/rfr-cache")
		_, err := c.client.Get(ctx, stsGVK, ns, "rfr-cache")
		assert.NoError(t, err)
		d.settle(ctx)
	})

	t.Run("kubectl scale changes the StatefulSet", func(t *testing.T) {
		_, err := c.kubectl(ctx, "-n", ns, "scale", "rf", name, "--replicas=5")
		require.NoError(t, err)
		d.settle(ctx)
		sts, err := c.client.Get(ctx, stsGVK, ns, "rfr-cache")
		require.NoError(t, err)
		replicas, _, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
		assert.EqualValues(t, 5, replicas)
	})

	t.Run("invalid edit changes nothing", func(t *testing.T) {
		d.settle(ctx)
		before := d.snapshot(ctx)
		// "port" is redhook's own directive: the CRD's pattern lets it through, the hook refuses it.
		_, err := c.kubectl(ctx, "-n", ns, "patch", "rf", name, "--type=merge",
			"-p", `{"spec":{"redis":{"customConfig":["maxmemory 100mb","port 7000"]}}}`)
		require.NoError(t, err)
		r := d.pass(ctx)
		assert.Empty(t, r.Applied, "children are held")
		assert.Empty(t, r.Deleted, "children are held")
		after := d.snapshot(ctx)
		delete(before, "RedisFailover/"+name)
		delete(after, "RedisFailover/"+name)
		assert.Equal(t, before, after, "children's resourceVersions")
		rf, err := c.client.Get(ctx, rfGVK, ns, name)
		require.NoError(t, err)
		assert.Equal(t, "False", conditionStatus(rf, "SpecValid"))
		if cond := condition(rf, "SpecValid"); assert.NotNil(t, cond) {
			assert.Contains(t, cond["message"], "spec.redis.customConfig[1]")
		}
	})
}

// TestHookDriverSkipSettled: with SkipSettled (the e2e suite's), a pass leaves out the apply of
// every child whose last apply changed nothing, and applies again a child changed by someone
// else (its resourceVersion moved): the driver writes what Metacontroller's 3-way merge would.
func TestHookDriverSkipSettled(t *testing.T) {
	const ns, name = "driver-skip", "skip"
	d := newDriver(t, ns, `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata:
  name: skip
spec:
  redis: {replicas: 2}
  sentinel: {replicas: 3}
`)
	d.SkipSettled = true
	ctx := t.Context()
	first := d.pass(ctx)
	assert.ElementsMatch(t, first.Desired, first.Applied, "every child is created")
	assert.Empty(t, first.Skipped)
	second := d.pass(ctx)
	assert.Empty(t, second.Skipped, "a child is applied twice before it counts as settled")
	d.settle(ctx)
	r := d.pass(ctx)
	assert.ElementsMatch(t, r.Desired, r.Skipped, "a settled pass applies nothing")

	// A change by someone else: the next pass applies that child again.
	cm, err := d.c.client.Get(ctx, cmGVK, ns, "rfr-"+name)
	require.NoError(t, err)
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	require.NotEmpty(t, data)
	want := maps.Clone(data)
	for k := range data {
		data[k] = "edited"
	}
	require.NoError(t, unstructured.SetNestedStringMap(cm.Object, data, "data"))
	_, err = d.c.client.Write(ctx, http.MethodPut, cm, "", "", false)
	require.NoError(t, err)
	r = d.pass(ctx)
	assert.Contains(t, r.Applied, "ConfigMap/rfr-"+name, "the edited child is applied")
	assert.NotContains(t, r.Skipped, "ConfigMap/rfr-"+name)
	cm, err = d.c.client.Get(ctx, cmGVK, ns, "rfr-"+name)
	require.NoError(t, err)
	got, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	assert.Equal(t, want, got, "the apply restored the data")
	r = d.pass(ctx)
	assert.NotContains(t, r.Skipped, "ConfigMap/rfr-"+name, "applied once more, to see it settled")
	r = d.pass(ctx)
	assert.ElementsMatch(t, r.Desired, r.Skipped, "settled again")
}

// Every example, driven for real: the first pass creates every child, the sync settles, and a
// further pass changes nothing — in particular no child is rewritten because the hook compares
// what it renders with what the API server stored (defaults, normalised quantities).
func TestHookDriverExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			d := newDriver(t, "drive-"+name, string(b))
			ctx := t.Context()
			first := d.pass(ctx)
			require.NotEmpty(t, first.Desired)
			assert.ElementsMatch(t, first.Desired, first.Applied, "every child is created")
			d.settle(ctx)
			before := d.snapshot(ctx)
			r := d.pass(ctx)
			assert.Empty(t, r.Applied)
			assert.Equal(t, before, d.snapshot(ctx), "resourceVersions of the parent and its children")
			parent, err := d.c.client.Get(ctx, d.kind, d.namespace, d.name)
			require.NoError(t, err)
			assert.Equal(t, "True", conditionStatus(parent, "SpecValid"))
			if cond := condition(parent, "Degraded"); assert.NotNil(t, cond) {
				assert.Equal(t, "False", cond["status"], "Degraded: %v", cond["message"])
			}
		})
	}
}

// A storage change cannot be applied to a StatefulSet (volumeClaimTemplates are immutable): the
// hook keeps the existing claim templates, so the API server accepts the update, and says so in
// Degraded.
func TestHookDriverStorageChange(t *testing.T) {
	b, err := os.ReadFile("examples/persistence.yaml")
	require.NoError(t, err)
	d := newDriver(t, "driver-storage", string(b))
	ctx := t.Context()
	d.pass(ctx)
	d.settle(ctx)
	sts, err := d.c.client.Get(ctx, stsGVK, d.namespace, "rfr-"+d.name)
	require.NoError(t, err)
	claims, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	require.Len(t, claims, 1)

	_, err = d.c.kubectl(ctx, "-n", d.namespace, "patch", "rf", d.name, "--type=merge", "-p",
		`{"spec":{"redis":{"storage":{"persistentVolumeClaim":{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}}}}}`)
	require.NoError(t, err)
	d.settle(ctx) // every apply is asserted accepted inside pass
	sts, err = d.c.client.Get(ctx, stsGVK, d.namespace, "rfr-"+d.name)
	require.NoError(t, err)
	after, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	assert.Equal(t, claims, after, "claim templates kept")
	rf, err := d.c.client.Get(ctx, rfGVK, d.namespace, d.name)
	require.NoError(t, err)
	if cond := condition(rf, "Degraded"); assert.NotNil(t, cond) {
		assert.Equal(t, "True", cond["status"])
		assert.Equal(t, "StorageChangeNotApplied", cond["reason"])
	}
}
