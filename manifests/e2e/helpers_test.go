//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/manifests/internal/driver"
)

var (
	rfGVK        = driver.RedisFailover
	rcGVK        = schema.GroupVersionKind{Group: "redhook.io", Version: "v1alpha1", Kind: "RedisCluster"}
	secretGVK    = schema.GroupVersionKind{Version: "v1", Kind: "Secret"}
	nsGVK        = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	stsGVK       = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}
	sliceGVK     = schema.GroupVersionKind{Group: "discovery.k8s.io", Version: "v1", Kind: "EndpointSlice"}
	pvcGVK       = schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}
	cmGVK        = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	clusterDNSIP = nodeIP + ":53"
)

// resolver asks the cluster DNS only: the machine's resolver is unreachable from the cluster's
// network namespace (and must not be asked).
var resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, clusterDNSIP)
}}

// resolve turns host:port (a cluster DNS name or an IP) into ip:port.
func resolve(t *testing.T, hostport string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	require.NoError(t, err, hostport)
	if net.ParseIP(host) != nil {
		return hostport
	}
	// A pod's resolv.conf searches <ns>.svc.cluster.local, svc.cluster.local, cluster.local:
	// "name.ns.svc" is "name.ns.svc.cluster.local." there.
	if strings.HasSuffix(host, ".svc") {
		host += ".cluster.local"
	}
	host = strings.TrimSuffix(host, ".") + "."
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var addrs []string
	for ctx.Err() == nil {
		addrs, err = resolver.LookupHost(ctx, host)
		if err == nil && len(addrs) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	require.NoError(t, err, "resolve %s through the cluster DNS", host)
	return net.JoinHostPort(addrs[0], port)
}

// rfTest is one RedisFailover under test.
type rfTest struct {
	t        *testing.T
	c        *cluster
	ns, name string
	// kind is the parent's: a RedisFailover (rfGVK) or a RedisCluster (rcGVK).
	kind     schema.GroupVersionKind
	password string
	// sentinelAuth: spec.auth.sentinel, the sentinels require the password too.
	sentinelAuth bool
}

// sentinelPassword is what the sentinels require: the password only with spec.auth.sentinel.
func (r *rfTest) sentinelPassword() string {
	if r.sentinelAuth {
		return r.password
	}
	return ""
}

// deploy creates the objects of a YAML file (an example) in a new namespace ns.
func deploy(t *testing.T, ns, file string) *rfTest {
	t.Helper()
	c := needCluster(t)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return deployYAML(t, c, ns, string(b))
}

func deployYAML(t *testing.T, c *cluster, ns, stream string) *rfTest {
	t.Helper()
	ctx := t.Context()
	objs, err := driver.DecodeYAML([]byte(stream))
	require.NoError(t, err)
	nsObj := &unstructured.Unstructured{}
	nsObj.SetGroupVersionKind(nsGVK)
	nsObj.SetName(ns)
	if _, err := c.client.Create(ctx, nsObj, false); err != nil {
		var ae *driver.APIError
		require.True(t, errors.As(err, &ae) && ae.Code == http.StatusConflict, "create namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := c.kubectl(context.Background(), "-n", ns, "get", "rf,redisclusters,sts,deploy,pods,svc,endpointslices,pvc,pdb", "-o", "wide")
			t.Logf("namespace %s at the failure:\n%s", ns, out)
			ev, _ := c.kubectl(context.Background(), "-n", ns, "get", "events", "--sort-by=.lastTimestamp")
			t.Logf("events:\n%s", tailString(ev, 25))
			st, _ := c.kubectl(context.Background(), "-n", ns, "get", "rf,redisclusters", "-o", "jsonpath={.items[*].status}")
			t.Logf("status: %s", st)
			pods, _ := c.client.List(context.Background(), podGVK, ns, "")
			for _, p := range pods {
				sentinel := p.GetLabels()["app.kubernetes.io/component"] == "sentinel"
				tail := "--tail=15"
				if sentinel {
					tail = "--tail=60" // a failover's story is longer than a replica's reconnects
				}
				for _, prev := range []string{"--previous=false", "--previous=true"} {
					l, _ := c.kubectl(context.Background(), "-n", ns, "logs", p.GetName(), "--all-containers", tail, prev)
					if l != "" {
						t.Logf("logs of %s (%s):\n%s", p.GetName(), prev, l)
					}
				}
				if sentinel {
					// What the healer reads: TILT, and the failover state of every master.
					for _, cmd := range [][]string{{"info", "sentinel"}, {"sentinel", "masters"}} {
						args := append([]string{"-n", ns, "exec", p.GetName(), "-c", "sentinel", "--",
							"redis-cli", "-p", "26379"}, cmd...)
						out, err := c.kubectl(context.Background(), args...)
						t.Logf("%s: redis-cli %s: %s (%v)", p.GetName(), strings.Join(cmd, " "), out, err)
					}
				}
			}
			l, _ := c.kubectl(context.Background(), "-n", "redhook-system", "logs", "deploy/redhook", "--tail=20000")
			t.Logf("redhook logs about %s:\n%s", ns, tailString(grepLines(l, `"namespace":"`+ns+`"`), 60))
			if d, err := time.ParseDuration(os.Getenv("REDHOOK_E2E_PAUSE_ON_FAILURE")); err == nil {
				t.Logf("pausing %v (REDHOOK_E2E_PAUSE_ON_FAILURE) before the clean-up", d)
				time.Sleep(d)
			}
		}
		_ = c.client.Delete(context.Background(), nsGVK, "", ns)
	})
	r := &rfTest{t: t, c: c, ns: ns}
	for _, o := range objs {
		o.SetNamespace(ns)
		if k := o.GroupVersionKind(); k == rfGVK || k == rcGVK {
			r.name, r.kind = o.GetName(), k
			r.sentinelAuth, _, _ = unstructured.NestedBool(o.Object, "spec", "auth", "sentinel")
		}
		if o.GroupVersionKind() == secretGVK {
			if sd, ok, _ := unstructured.NestedStringMap(o.Object, "stringData"); ok && sd["password"] != "" {
				r.password = sd["password"]
			}
		}
		_, err := c.client.Create(ctx, o, false)
		require.NoError(t, err)
	}
	require.NotEmpty(t, r.name, "no RedisFailover or RedisCluster")
	return r
}

// grepLines is the lines of s that contain substr.
func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func tailString(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// get returns the RedisFailover (or RedisCluster).
func (r *rfTest) get() *unstructured.Unstructured {
	r.t.Helper()
	o, err := r.c.client.Get(r.t.Context(), r.kind, r.ns, r.name)
	require.NoError(r.t, err)
	return o
}

func condition(o *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			return m
		}
	}
	return nil
}

// waitReady waits until Ready=True for the current generation and returns how long it took.
func (r *rfTest) waitReady(timeout time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		o, err := r.c.client.Get(r.t.Context(), r.kind, r.ns, r.name)
		require.NoError(r.t, err)
		og, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
		if c := condition(o, "Ready"); c != nil && c["status"] == "True" && og == o.GetGeneration() {
			return time.Since(start)
		}
		last = driver.ConditionSummary(o)
		time.Sleep(500 * time.Millisecond)
	}
	r.t.Fatalf("%s/%s not Ready within %v: %s", r.ns, r.name, timeout, last)
	return 0
}

// connection is status.connection.
func (r *rfTest) connection() map[string]string {
	o := r.get()
	m, _, _ := unstructured.NestedStringMap(o.Object, "status", "connection")
	return m
}

// masterAddr is the master Service's ip:port (status.connection.master, resolved).
func (r *rfTest) masterAddr() string { return resolve(r.t, r.connection()["master"]) }

// sentinelAddr is the sentinel Service's ip:port.
func (r *rfTest) sentinelAddr() string { return resolve(r.t, r.connection()["sentinel"]) }

func (r *rfTest) masterSet() string {
	if m := r.connection()["masterName"]; m != "" {
		return m
	}
	return "mymaster"
}

// client is a plain client of addr (closed with the test).
// The first connection is retried for 30 s: a Service's rules may not be programmed yet, and
// the test client's dial timeout is short.
func (r *rfTest) client(addr string) rueidis.Client {
	r.t.Helper()
	var cl rueidis.Client
	eventually(r.t, 30*time.Second, "connect to "+addr, func() (err error) {
		cl, err = redistest.NewClient(addr, r.password)
		return err
	})
	r.t.Cleanup(cl.Close)
	return cl
}

// sentinelClient is a Sentinel-aware client through the sentinels at addr.
func (r *rfTest) sentinelClient(addr string) rueidis.Client {
	r.t.Helper()
	var cl rueidis.Client
	eventually(r.t, 30*time.Second, "connect through Sentinel "+addr, func() (err error) {
		cl, err = redistest.NewSentinelClient([]string{addr}, r.masterSet(), r.password, r.sentinelPassword())
		return err
	})
	r.t.Cleanup(cl.Close)
	return cl
}

// do runs one command with a deadline.
func do(ctx context.Context, cl rueidis.Client, args ...string) rueidis.RedisResult {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return cl.Do(ctx, cl.B().Arbitrary(args...).Build())
}

// sentinelMaster asks the sentinel Service for the master's address.
func (r *rfTest) sentinelMaster(ctx context.Context, sentinel rueidis.Client) (string, error) {
	v, err := do(ctx, sentinel, "SENTINEL", "get-master-addr-by-name", r.masterSet()).AsStrSlice()
	if err != nil {
		return "", err
	}
	if len(v) != 2 {
		return "", fmt.Errorf("get-master-addr-by-name: %v", v)
	}
	return net.JoinHostPort(v[0], v[1]), nil
}

// writers are a writer through the master Service and one through Sentinel.
type writers struct {
	svc, sentinel     *redistest.Writer
	svcC, sentinelC   rueidis.Client
	cancel            context.CancelFunc
	done              chan struct{}
	prefix            string
	svcAddr, sentAddr string
}

// startWriters starts SET + WAIT 1 writers through the master Service's cluster IP and through
// Sentinel (a Sentinel-aware client of the sentinel Service).
func (r *rfTest) startWriters(prefix string) *writers {
	r.t.Helper()
	w := &writers{prefix: prefix, svcAddr: r.masterAddr(), sentAddr: r.sentinelAddr(), done: make(chan struct{})}
	var err error
	w.svcC = r.client(w.svcAddr)
	w.sentinelC = r.sentinelClient(w.sentAddr)
	cfg := redistest.WriterConfig{Prefix: prefix + "svc-", Wait: 500 * time.Millisecond, Timeout: time.Second, Pause: 10 * time.Millisecond}
	// Like most clients, the writers reconnect only when a connection breaks: a connection made
	// through the master Service while it still led to the old master's pod, restarted as a
	// replica, gets READONLY until redhook closes it (healer rule 15).
	w.svc, err = redistest.NewWriter(w.svcC, cfg)
	require.NoError(r.t, err)
	cfg.Prefix = prefix + "sentinel-"
	w.sentinel, err = redistest.NewWriter(w.sentinelC, cfg)
	require.NoError(r.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() {
		defer close(w.done)
		done := make(chan struct{})
		go func() { w.sentinel.Run(ctx); close(done) }()
		w.svc.Run(ctx)
		<-done
	}()
	r.t.Cleanup(w.stop)
	return w
}

func (w *writers) stop() {
	w.cancel()
	<-w.done
}

// pathResult is what the writers of one path (master Service or Sentinel) saw, read back.
type pathResult struct {
	path string
	c    redistest.Counts
	gap  time.Duration
	loss redistest.Loss
}

// verify stops the writers and reads every acknowledged key back through Sentinel's master:
// confirmed writes must all be there. It logs a summary line per path.
func (r *rfTest) verify(w *writers, what string) {
	r.t.Helper()
	for _, x := range r.readBack(w, what) {
		require.Empty(r.t, x.loss.Confirmed, "confirmed writes through the %s lost", x.path)
	}
}

// readBack stops the writers, reads every acknowledged key back through Sentinel's master and
// logs a summary line per path; losses are returned, not asserted (a baseline may lose writes).
func (r *rfTest) readBack(w *writers, what string) []pathResult {
	r.t.Helper()
	w.stop()
	ctx, cancel := context.WithTimeout(r.t.Context(), 60*time.Second)
	defer cancel()
	// The writers' master may have just changed: read back through a fresh Sentinel client.
	reader := r.sentinelClient(w.sentAddr)
	var out []pathResult
	for _, x := range []struct {
		name string
		w    *redistest.Writer
	}{{"master Service", w.svc}, {"Sentinel", w.sentinel}} {
		var loss redistest.Loss
		var err error
		for ctx.Err() == nil {
			loss, err = x.w.Verify(ctx, reader)
			if err == nil {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		require.NoError(r.t, err, "read back the %s writes", x.name)
		res := pathResult{path: x.name, c: x.w.Counts(), gap: x.w.LongestGap().Round(time.Millisecond), loss: loss}
		r.t.Logf("%s, writes through the %s: %d written, %d confirmed, %d unconfirmed, %d failed; longest gap %v; lost: %d confirmed, %d unconfirmed",
			what, x.name, res.c.Written, res.c.Confirmed, res.c.Unconfirmed, res.c.Failed, res.gap,
			len(loss.Confirmed), len(loss.Unconfirmed))
		require.Positive(r.t, res.c.Confirmed, "no write through the %s was confirmed", x.name)
		out = append(out, res)
	}
	return out
}

// pods lists the pods of the RedisFailover with a component (redis, sentinel).
func (r *rfTest) pods(component string) []*unstructured.Unstructured {
	r.t.Helper()
	pods, err := r.c.client.List(r.t.Context(), podGVK, r.ns,
		"app.kubernetes.io/name="+r.name+",app.kubernetes.io/component="+component)
	require.NoError(r.t, err)
	return pods
}

// masterPod is the pod status.master names.
func (r *rfTest) masterPod() string {
	o := r.get()
	p, _, _ := unstructured.NestedString(o.Object, "status", "master", "pod")
	return p
}

// roleOf asks a redis pod for its role.
func (r *rfTest) roleOf(ctx context.Context, podIP string) (string, error) {
	cl, err := redistest.NewClient(net.JoinHostPort(podIP, "6379"), r.password)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	info, err := do(ctx, cl, "INFO", "replication").ToString()
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "role:"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("no role in INFO")
}

// noRejections fails the test when the API server refused a child redhook returned for a
// RedisFailover of namespace ns (refusals for other namespaces are dropped: other tests').
func noRejections(t *testing.T, c *cluster, ns string) {
	t.Helper()
	for {
		select {
		case err := <-c.rejected:
			// A sync racing the deletion of an earlier test's namespace: Metacontroller
			// meets the same refusal, and it is not about what redhook rendered.
			if strings.HasPrefix(err.Error(), ns+"/") && !strings.Contains(err.Error(), "because it is being terminated") {
				t.Errorf("the API server refused a child: %v", err)
			}
		default:
			return
		}
	}
}
