package manifests_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/hooks"
)

// (g) Zero writes at steady state, driven for real. A RedisFailover with a PVC template
// (examples/persistence.yaml) runs against `redhook serve` and its healer, which watches real
// redis-server and redis-sentinel processes: the test cluster has no kubelet, so the pods are
// Pod objects whose status points at those processes. With a master reported, the master
// EndpointSlice carries its address and every child is rendered, not held. Once settled, 10
// more sync passes write no child.
//
// The API server refuses loopback addresses in an EndpointSlice, so the redis pod runs on the
// host's own address (the sentinels, which no EndpointSlice names, on loopback addresses of
// their own). There is one such address, so the RedisFailover has one redis pod: its replicas
// EndpointSlice is empty, the other case of the renderer.
//
// The driver applies with server-side apply, which is a no-op for a field whose value the
// server stores in another form; Metacontroller's 3-way merge is not. So every pass also checks
// the children the hook returns against the stored ones as that merge sees them (see
// fixedPointDiffs): that is the part that fails when a renderer is not a fixed point.
func TestSteadyStateWritesNothing(t *testing.T) {
	const ns, name = "steady-state", "persistence"
	redistest.Require(t)
	hostIP := hostAddress(t)
	port := freePortOn(t, hostIP)
	b, err := os.ReadFile("examples/persistence.yaml")
	require.NoError(t, err)
	objs, err := decodeYAML(b)
	require.NoError(t, err)
	require.Len(t, objs, 1)
	rf := objs[0]
	require.NoError(t, unstructured.SetNestedField(rf.Object, int64(1), "spec", "redis", "replicas"))
	require.NoError(t, unstructured.SetNestedField(rf.Object, int64(port), "spec", "redis", "port"))
	stream, err := rf.MarshalJSON()
	require.NoError(t, err)
	d := newDriver(t, ns, string(stream))
	require.Equal(t, name, d.name)
	ctx := t.Context()

	startRedis(t, hostIP, port)
	sentinels := redistest.NewCluster(t, name, redistest.Options{Sentinels: 3, NoStart: true})
	for _, p := range sentinels.Sentinels {
		p.Conf = sentinels.SentinelConf(p, hostIP, port)
	}
	sentinels.StartAll()

	// No controller-manager creates the namespace's default ServiceAccount, which pod admission
	// looks up.
	sa := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ServiceAccount",
		"metadata": map[string]any{"name": "default", "namespace": ns}}}
	_, err = d.c.client.create(ctx, sa, false)
	require.NoError(t, err)
	createRunningPod(t, ns, "rfr-"+name+"-0", hooks.SelectorLabels(name, hooks.ComponentRedis), hostIP)
	for _, p := range sentinels.Sentinels {
		createRunningPod(t, ns, p.Name, hooks.SelectorLabels(name, hooks.ComponentSentinel), p.IP)
	}

	// Settled: the healer reports the master, the master EndpointSlice points at it, and a pass
	// changes no child.
	deadline := time.Now().Add(time.Minute)
	for {
		r := d.pass(ctx)
		if !r.changed() && sliceAddresses(t, ns, "rfrm-"+name) == fmt.Sprint([]string{hostIP}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled with the master in its EndpointSlice after a minute: rfrm-%s holds %s",
				name, sliceAddresses(t, ns, "rfrm-"+name))
		}
		time.Sleep(500 * time.Millisecond)
	}
	assert.Equal(t, "[]", sliceAddresses(t, ns, "rfrs-"+name), "no replica")
	sts, err := d.c.client.get(ctx, stsGVK, ns, "rfr-"+name)
	require.NoError(t, err)
	claims, _, _ := unstructured.NestedSlice(sts.Object, "spec", "volumeClaimTemplates")
	require.Len(t, claims, 1, "the StatefulSet has its PVC template")

	before := childVersions(d.snapshot(ctx), name)
	require.Len(t, before, 14, "every child exists")
	for i := range 10 {
		r := d.pass(ctx)
		assert.Empty(t, r.applied, "pass %d: children the driver's apply changed", i+1)
		assert.Empty(t, r.deleted, "pass %d: children deleted", i+1)
		for _, diff := range d.mergeDiffs(ctx) {
			t.Errorf("pass %d: a 3-way merge writes %s", i+1, diff)
		}
		time.Sleep(200 * time.Millisecond)
	}
	assert.Equal(t, before, childVersions(d.snapshot(ctx), name), "resourceVersions of the children")
	rfNow, err := d.c.client.get(ctx, rfGVK, ns, name)
	require.NoError(t, err)
	assert.Equal(t, "True", conditionStatus(rfNow, "Available"), "the healer reports a writable master")
}

// hostAddress is an IPv4 address of this host that is neither loopback nor link-local: one an
// EndpointSlice may hold. The test skips without one.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	require.NoError(t, err)
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address on this host: an EndpointSlice refuses loopback ones")
	return ""
}

// freePortOn returns a port nothing listens on at ip.
func freePortOn(t *testing.T, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis runs a redis-server master on ip:port until the test ends.
func startRedis(t *testing.T, ip string, port int) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "redis.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(
		"port %d\nbind %s\nprotected-mode no\ndir %q\nsave \"\"\nappendonly no\n", port, ip, dir)), 0o600))
	cmd := exec.Command(redistest.RedisServer, conf)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 50*time.Millisecond, "redis-server on %s", addr)
}

// createRunningPod stores a Pod that looks running and ready at ip, as a kubelet would report
// it.
func createRunningPod(t *testing.T, ns, name string, labels map[string]string, ip string) {
	t.Helper()
	c := needCluster(t)
	ctx := t.Context()
	pod := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec": map[string]any{"automountServiceAccountToken": false,
			"containers": []any{map[string]any{"name": "main", "image": "redis"}}},
	}}
	pod.SetLabels(labels)
	stored, err := c.client.create(ctx, pod, false)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, c.client.delete(context.Background(), podGVK, ns, name))
	})
	stored.Object["status"] = map[string]any{
		"phase": "Running", "podIP": ip, "podIPs": []any{map[string]any{"ip": ip}},
		"conditions": []any{map[string]any{"type": "Ready", "status": "True"}},
	}
	_, err = c.client.updateStatus(ctx, stored)
	require.NoError(t, err)
}

var podGVK = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}

// sliceAddresses lists the addresses of an EndpointSlice, sorted, for comparison.
func sliceAddresses(t *testing.T, ns, name string) string {
	t.Helper()
	s, err := needCluster(t).client.get(t.Context(), schema.GroupVersionKind{Group: "discovery.k8s.io",
		Version: "v1", Kind: "EndpointSlice"}, ns, name)
	if isNotFound(err) {
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

// childVersions is a snapshot without the parent.
func childVersions(snap map[string]string, parent string) map[string]string {
	delete(snap, "RedisFailover/"+parent)
	return snap
}

// mergeDiffs asks the hook for the desired children as a sync pass does, decorates them as
// Metacontroller does, and returns every place where Metacontroller's 3-way merge of each
// stored child with them differs from the stored child: each is a write on every sync.
func (d *driver) mergeDiffs(ctx context.Context) []string {
	t := d.t
	t.Helper()
	parent, err := d.c.client.get(ctx, rfGVK, d.namespace, d.name)
	require.NoError(t, err)
	var custom hooks.CustomizeResponse
	d.post(ctx, "/customize", map[string]any{"controller": d.controller, "parent": parent.Object}, &custom)
	related := d.related(ctx, custom.RelatedResources)
	observed := d.children(ctx, parent)
	children := map[string]map[string]any{}
	for key, objs := range observed {
		children[key] = map[string]any{}
		for k, o := range objs {
			children[key][k] = o.Object
		}
	}
	var resp struct {
		Status             map[string]any   `json:"status"`
		Children           []map[string]any `json:"children"`
		ResyncAfterSeconds float64          `json:"resyncAfterSeconds"`
	}
	d.post(ctx, "/sync", map[string]any{"controller": d.controller, "parent": parent.Object,
		"children": children, "related": related, "finalizing": false}, &resp)
	var out []string
	for _, child := range resp.Children {
		obj := d.decorate(&unstructured.Unstructured{Object: child}, parent)
		stored := observed[wireKey(obj.GroupVersionKind())][d.namespace+"/"+obj.GetName()]
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
