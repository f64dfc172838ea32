package manifests_test

// (e) A test driver that does what Metacontroller does for one RedisFailover, speaking its v2
// hook wire format to a running `redhook serve`, against the real API server: customize →
// gather the related objects → gather the owned children → sync → apply the desired children
// (server-side apply as field manager "metacontroller", with the controller-uid label and the
// controller ownerReference Metacontroller adds) → delete the owned children that were not
// returned → write the status through the status subresource (with observedGeneration).
// See docs/architecture.md ("The wire protocol and its traps") and hooks/wire.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
)

// metacontrollerManager is the field manager of what Metacontroller (or this driver) writes.
const metacontrollerManager = "metacontroller"

// lastAppliedAnnotation is where Metacontroller keeps the desired object it last applied.
const lastAppliedAnnotation = "metacontroller.k8s.io/last-applied-configuration"

var secretGVK = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}

// Kinds the tests address directly.
var (
	cmGVK  = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	stsGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
)

// childKeys are the keys of the declared child types in a sync request's children map.
var childKeys = []string{hooks.KeyConfigMap, hooks.KeySecret, hooks.KeyService, hooks.KeyEndpointSlice,
	hooks.KeyStatefulSet, hooks.KeyDeployment, hooks.KeyPDB}

// wireKey is Kind.apiVersion, the key of the children and related maps.
func wireKey(gvk schema.GroupVersionKind) string {
	av, kind := gvk.ToAPIVersionAndKind()
	return kind + "." + av
}

// driver runs sync passes of one RedisFailover against a hook server.
type driver struct {
	t          *testing.T
	c          *testCluster
	hook       string // http://127.0.0.1:PORT
	http       *http.Client
	controller map[string]any
	childTypes []schema.GroupVersionKind // the controller's childResources
	namespace  string
	name       string
}

// passResult is what one pass did.
type passResult struct {
	desired  []string // Kind/name of the children the hook returned
	applied  []string // children whose resourceVersion the apply changed (or created)
	deleted  []string
	parentRV string // after the status write
	status   map[string]any
}

func (r passResult) changed() bool { return len(r.applied) > 0 || len(r.deleted) > 0 }

// syncResponse is what the sync hook answers.
type syncResponse struct {
	Status             map[string]any   `json:"status"`
	Children           []map[string]any `json:"children"`
	ResyncAfterSeconds float64          `json:"resyncAfterSeconds"`
}

// sync calls the customize and sync hooks for the stored RedisFailover as Metacontroller does:
// the parent, its observed children and the related objects customize asks for.
func (d *driver) sync(ctx context.Context) (parent *unstructured.Unstructured,
	observed map[string]map[string]*unstructured.Unstructured, resp syncResponse) {
	t := d.t
	t.Helper()
	parent, err := d.c.client.get(ctx, rfGVK, d.namespace, d.name)
	require.NoError(t, err)

	var custom hooks.CustomizeResponse
	d.post(ctx, "/customize", map[string]any{"controller": d.controller, "parent": parent.Object}, &custom)
	related := d.related(ctx, custom.RelatedResources)
	observed = d.children(ctx, parent)

	children := map[string]map[string]any{}
	for key, objs := range observed {
		children[key] = map[string]any{}
		for k, o := range objs {
			children[key][k] = o.Object
		}
	}
	d.post(ctx, "/sync", map[string]any{"controller": d.controller, "parent": parent.Object,
		"children": children, "related": related, "finalizing": false}, &resp)
	return parent, observed, resp
}

// pass runs one sync of the RedisFailover, as Metacontroller would after a watch event.
func (d *driver) pass(ctx context.Context) passResult {
	t := d.t
	t.Helper()
	cl := d.c.client
	parent, observed, resp := d.sync(ctx)
	require.NotNil(t, resp.Children, "a sync response without children deletes every child")
	require.NotNil(t, resp.Status, "a sync response without status wipes the status")

	var res passResult
	desired := map[string]bool{}
	for _, child := range resp.Children {
		obj := &unstructured.Unstructured{Object: child}
		if !assert.Contains(t, d.childTypes, obj.GroupVersionKind(),
			"%s is not a declared child type: Metacontroller refuses the response", describe(obj)) {
			continue
		}
		id := wireKey(obj.GroupVersionKind()) + " " + d.namespace + "/" + obj.GetName()
		require.False(t, desired[id], "child %s returned twice", id)
		desired[id] = true
		res.desired = append(res.desired, obj.GetKind()+"/"+obj.GetName())
		before := observed[wireKey(obj.GroupVersionKind())][d.namespace+"/"+obj.GetName()]
		after, err := cl.apply(ctx, d.decorate(obj, parent), applyOptions{manager: metacontrollerManager})
		// A rejection is a renderer bug: reported, never worked around.
		if !assert.NoError(t, err, "the API server rejects a child redhook returned") {
			continue
		}
		if before == nil || before.GetResourceVersion() != after.GetResourceVersion() {
			res.applied = append(res.applied, obj.GetKind()+"/"+obj.GetName())
		}
	}
	for key, objs := range observed {
		for nsName, o := range objs {
			if desired[key+" "+nsName] {
				continue
			}
			require.NoError(t, cl.delete(ctx, o.GroupVersionKind(), o.GetNamespace(), o.GetName()))
			res.deleted = append(res.deleted, o.GetKind()+"/"+o.GetName())
		}
	}

	// The status replaces .status; Metacontroller adds observedGeneration.
	status := resp.Status
	status["observedGeneration"] = parent.GetGeneration()
	parent.Object["status"] = status
	updated, err := cl.updateStatus(ctx, parent)
	require.NoError(t, err, "the API server rejects the status redhook returned")
	res.parentRV = updated.GetResourceVersion()
	res.status, _, _ = unstructured.NestedMap(updated.Object, "status")
	sort.Strings(res.applied)
	sort.Strings(res.deleted)
	t.Logf("pass: %d children, applied %v, deleted %v, resyncAfter %vs, conditions %s", len(res.desired),
		res.applied, res.deleted, resp.ResyncAfterSeconds, conditionSummary(updated))
	return res
}

// conditionSummary is "Type=Status(Reason) ..." for logs.
func conditionSummary(obj *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	var parts []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		parts = append(parts, fmt.Sprintf("%v=%v(%v)", m["type"], m["status"], m["reason"]))
	}
	return strings.Join(parts, " ")
}

// decorate adds what Metacontroller adds to every desired child: the parent's namespace, the
// controller-uid label (generateSelector), the controller ownerReference and the last-applied
// annotation of its three-way apply.
func (d *driver) decorate(child *unstructured.Unstructured, parent *unstructured.Unstructured) *unstructured.Unstructured {
	obj := child.DeepCopy()
	last, err := json.Marshal(child.Object)
	require.NoError(d.t, err)
	obj.SetNamespace(parent.GetNamespace())
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["controller-uid"] = string(parent.GetUID())
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[lastAppliedAnnotation] = string(last)
	obj.SetAnnotations(ann)
	yes := true
	obj.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{
		"apiVersion": parent.GetAPIVersion(), "kind": parent.GetKind(), "name": parent.GetName(),
		"uid": string(parent.GetUID()), "controller": yes, "blockOwnerDeletion": yes,
	}}
	return obj
}

// children lists the owned children of every child type: selected by the controller-uid label
// and kept only when their controller ownerReference is the parent.
func (d *driver) children(ctx context.Context, parent *unstructured.Unstructured) map[string]map[string]*unstructured.Unstructured {
	out := map[string]map[string]*unstructured.Unstructured{}
	for _, gvk := range d.childTypes {
		objs, err := d.c.client.list(ctx, gvk, parent.GetNamespace(), "controller-uid="+string(parent.GetUID()))
		require.NoError(d.t, err)
		m := map[string]*unstructured.Unstructured{}
		for _, o := range objs {
			for _, ref := range o.GetOwnerReferences() {
				if ref.Controller != nil && *ref.Controller && ref.UID == parent.GetUID() {
					m[o.GetNamespace()+"/"+o.GetName()] = o
				}
			}
		}
		out[wireKey(gvk)] = m
	}
	return out
}

// related gathers the objects the customize rules select: by label selector or by names, in
// the rule's namespace (all namespaces without one, as Metacontroller's v2 hooks do).
func (d *driver) related(ctx context.Context, rules []hooks.RelatedResourceRule) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, r := range rules {
		gvk, err := d.c.client.kindFor(ctx, r.APIVersion, r.Resource)
		require.NoError(d.t, err, "customize rule")
		m := out[wireKey(gvk)]
		if m == nil {
			m = map[string]any{}
			out[wireKey(gvk)] = m
		}
		var objs []*unstructured.Unstructured
		switch {
		case len(r.Names) > 0:
			for _, name := range r.Names {
				o, err := d.c.client.get(ctx, gvk, r.Namespace, name)
				if isNotFound(err) {
					continue
				}
				require.NoError(d.t, err)
				objs = append(objs, o)
			}
		default:
			var sel []string
			if r.LabelSelector != nil {
				for k, v := range r.LabelSelector.MatchLabels {
					sel = append(sel, k+"="+v)
				}
			}
			sort.Strings(sel)
			var err error
			objs, err = d.c.client.list(ctx, gvk, r.Namespace, strings.Join(sel, ","))
			require.NoError(d.t, err)
		}
		for _, o := range objs {
			m[o.GetNamespace()+"/"+o.GetName()] = o.Object
		}
	}
	return out
}

// post sends a hook request and strictly decodes the answer (v2 hooks: unknown response fields
// are an error).
func (d *driver) post(ctx context.Context, path string, req any, resp any) {
	t := d.t
	t.Helper()
	body, err := json.Marshal(req)
	require.NoError(t, err)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, d.hook+path, bytes.NewReader(body))
	require.NoError(t, err)
	hr.Header.Set("Content-Type", "application/json")
	r, err := d.http.Do(hr)
	require.NoError(t, err)
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, r.StatusCode, "%s: %s", path, b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(resp), "%s answer: %s", path, b)
}

// settle runs passes until one changes no child, as Metacontroller's resyncs would.
func (d *driver) settle(ctx context.Context) passResult {
	d.t.Helper()
	for range 10 {
		if r := d.pass(ctx); !r.changed() {
			return r
		}
		time.Sleep(300 * time.Millisecond) // the healer's pass runs in the background
	}
	d.t.Fatalf("children still change after 10 sync passes")
	return passResult{}
}

// snapshot returns the resourceVersion of the parent and of every owned child.
func (d *driver) snapshot(ctx context.Context) map[string]string {
	parent, err := d.c.client.get(ctx, rfGVK, d.namespace, d.name)
	require.NoError(d.t, err)
	out := map[string]string{"RedisFailover/" + d.name: parent.GetResourceVersion()}
	for _, objs := range d.children(ctx, parent) {
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
	client := newHTTPClient(nil)
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
	resources, _, err := unstructured.NestedSlice(controller.Object, "spec", "childResources")
	require.NoError(t, err)
	var out []schema.GroupVersionKind
	for _, r := range resources {
		m, _ := r.(map[string]any)
		av, _ := m["apiVersion"].(string)
		res, _ := m["resource"].(string)
		gvk, err := needCluster(t).client.kindFor(t.Context(), av, res)
		require.NoError(t, err, "childResources of %s", controller.GetName())
		out = append(out, gvk)
	}
	return out
}

// newDriver creates the objects of a YAML stream for real in a new namespace and returns a
// driver for its RedisFailover.
func newDriver(t *testing.T, ns, stream string) *driver {
	t.Helper()
	installCRD(t)
	c := cluster
	ensureNamespace(t, ns)
	controller := readYAML(t, "compositecontroller.yaml")
	require.Len(t, controller, 1)
	d := &driver{t: t, c: c, hook: startHookServer(t), http: newHTTPClient(nil),
		controller: controller[0].Object, childTypes: declaredChildTypes(t, controller[0]), namespace: ns}
	t.Cleanup(d.http.CloseIdleConnections)
	objs, err := decodeYAML([]byte(stream))
	require.NoError(t, err)
	for _, o := range objs {
		o.SetNamespace(ns)
		if o.GroupVersionKind() == rfGVK {
			d.name = o.GetName()
		}
		_, err := c.client.create(t.Context(), o, false)
		require.NoError(t, err)
	}
	require.NotEmpty(t, d.name, "no RedisFailover in the stream")
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
	require.NotEmpty(t, first.desired)
	assert.ElementsMatch(t, first.desired, first.applied, "every child is created")
	for _, want := range []string{"StatefulSet/rfr-cache", "Deployment/rfs-cache", "Service/rfs-cache",
		"Secret/rfr-auth-cache", "ConfigMap/rfr-cache"} {
		assert.Contains(t, first.desired, want)
	}
	byName, err := c.client.list(ctx, stsGVK, ns, "app.kubernetes.io/name="+name)
	require.NoError(t, err)
	assert.Len(t, byName, 1, "the StatefulSet carries app.kubernetes.io/name")
	snap := d.snapshot(ctx)
	for _, child := range first.desired {
		assert.Contains(t, snap, child, "child exists after the first pass")
	}
	assert.NotEmpty(t, first.status["conditions"], "status.conditions set")
	rf, err := c.client.get(ctx, rfGVK, ns, name)
	require.NoError(t, err)
	assert.NotEmpty(t, conditionStatus(rf, "SpecValid"), "SpecValid condition")
	og, _, _ := unstructured.NestedInt64(rf.Object, "status", "observedGeneration")
	assert.Equal(t, rf.GetGeneration(), og)

	t.Run("second pass changes nothing", func(t *testing.T) {
		d.settle(ctx)
		before := d.snapshot(ctx)
		r := d.pass(ctx)
		assert.Empty(t, r.applied)
		assert.Empty(t, r.deleted)
		assert.Equal(t, before, d.snapshot(ctx), "resourceVersions of the parent and its children")
	})

	t.Run("deleted child comes back", func(t *testing.T) {
		for _, gvk := range []schema.GroupVersionKind{stsGVK, cmGVK} {
			require.NoError(t, c.client.delete(ctx, gvk, ns, "rfr-cache"))
		}
		r := d.pass(ctx)
		assert.Contains(t, r.applied, "StatefulSet/rfr-cache")
		assert.Contains(t, r.applied, "ConfigMap/rfr-cache")
		_, err := c.client.get(ctx, stsGVK, ns, "rfr-cache")
		assert.NoError(t, err)
		d.settle(ctx)
	})

	t.Run("kubectl scale changes the StatefulSet", func(t *testing.T) {
		_, err := c.kubectl(ctx, "-n", ns, "scale", "rf", name, "--replicas=5")
		require.NoError(t, err)
		d.settle(ctx)
		sts, err := c.client.get(ctx, stsGVK, ns, "rfr-cache")
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
		assert.Empty(t, r.applied, "children are held")
		assert.Empty(t, r.deleted, "children are held")
		after := d.snapshot(ctx)
		delete(before, "RedisFailover/"+name)
		delete(after, "RedisFailover/"+name)
		assert.Equal(t, before, after, "children's resourceVersions")
		rf, err := c.client.get(ctx, rfGVK, ns, name)
		require.NoError(t, err)
		assert.Equal(t, "False", conditionStatus(rf, "SpecValid"))
		if cond := condition(rf, "SpecValid"); assert.NotNil(t, cond) {
			assert.Contains(t, cond["message"], "spec.redis.customConfig[1]")
		}
	})
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
			require.NotEmpty(t, first.desired)
			assert.ElementsMatch(t, first.desired, first.applied, "every child is created")
			d.settle(ctx)
			before := d.snapshot(ctx)
			r := d.pass(ctx)
			assert.Empty(t, r.applied)
			assert.Equal(t, before, d.snapshot(ctx), "resourceVersions of the parent and its children")
			rf, err := d.c.client.get(ctx, rfGVK, d.namespace, d.name)
			require.NoError(t, err)
			assert.Equal(t, "True", conditionStatus(rf, "SpecValid"))
			if cond := condition(rf, "Degraded"); assert.NotNil(t, cond) {
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
	sts, err := d.c.client.get(ctx, stsGVK, d.namespace, "rfr-"+d.name)
	require.NoError(t, err)
	claims, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	require.Len(t, claims, 1)

	_, err = d.c.kubectl(ctx, "-n", d.namespace, "patch", "rf", d.name, "--type=merge", "-p",
		`{"spec":{"redis":{"storage":{"persistentVolumeClaim":{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}}}}}`)
	require.NoError(t, err)
	d.settle(ctx) // every apply is asserted accepted inside pass
	sts, err = d.c.client.get(ctx, stsGVK, d.namespace, "rfr-"+d.name)
	require.NoError(t, err)
	after, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	assert.Equal(t, claims, after, "claim templates kept")
	rf, err := d.c.client.get(ctx, rfGVK, d.namespace, d.name)
	require.NoError(t, err)
	if cond := condition(rf, "Degraded"); assert.NotNil(t, cond) {
		assert.Equal(t, "True", cond["status"])
		assert.Equal(t, "StorageChangeNotApplied", cond["reason"])
	}
}
