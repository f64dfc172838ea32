//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/redhook/redhook/manifests/internal/driver"
)

// Every example reaches Ready=True on real pods; the status' connection endpoints answer;
// writes through the master Service's cluster IP and through Sentinel work and none confirmed
// is lost; with auth, clients need the password and no ConfigMap holds it; with persistent
// volumes, the data survives deleting every redis pod at once; deleting the RedisFailover
// removes every child (the cluster's garbage collector), and the PVCs follow
// storage.keepAfterDeletion.
func TestExamples(t *testing.T) {
	c := needCluster(t)
	files, err := filepath.Glob("../examples/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	sem := make(chan struct{}, 3) // 2 cores: three RedisFailovers at a time
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			stream := string(b)
			if strings.Contains(stream, "kind: RedisCluster") {
				t.Skip("a RedisCluster: TestRedisCluster runs it")
			}
			if name == "bootstrap" {
				// The example bootstraps from 192.0.2.10, outside any cluster: here the
				// bootstrap node is a plain redis pod of the same namespace.
				stream = strings.ReplaceAll(stream, "192.0.2.10", bootstrapSource(t, c, "ex-"+name))
			}
			r := deployYAML(t, c, "ex-"+name, stream)
			took := r.waitReady(4 * time.Minute)
			t.Logf("%s: Ready=True after %.1fs", name, took.Seconds())
			ctx := t.Context()
			rf := r.get()
			if _, boot, _ := unstructured.NestedMap(rf.Object, "spec", "bootstrapNode"); boot {
				// The pods replicate from the bootstrap node: no writes through them.
				t.Logf("bootstrap: connection %v", r.connection())
			} else {
				r.checkEndpoints(ctx)
				w := r.startWriters("ex-")
				time.Sleep(3 * time.Second)
				r.verify(w, name)
				if r.password != "" {
					r.checkAuth(ctx)
				}
				if _, pvc, _ := unstructured.NestedMap(rf.Object, "spec", "redis", "storage", "persistentVolumeClaim"); pvc {
					r.checkPersistence(ctx, w)
				}
			}
			r.deleteAndCollect(ctx)
			noRejections(t, c, r.ns)
			t.Logf("%s: done in %.1fs", name, time.Since(start).Seconds())
		})
	}
}

// checkEndpoints: the master and replicas Services answer PING, the master Service reaches the
// master, and Sentinel names the master status.master names.
func (r *rfTest) checkEndpoints(ctx context.Context) {
	t := r.t
	conn := r.connection()
	t.Logf("connection: %v", conn)
	// kube-proxy programs a Service's rules up to a second or two after its EndpointSlice
	// changes: every check is retried for a while.
	for _, key := range []string{"master", "replicas"} {
		if conn[key] == "" {
			continue
		}
		cl := r.client(resolve(t, conn[key]))
		eventually(t, 30*time.Second, "PING through "+key+" "+conn[key], func() error {
			pong, err := do(ctx, cl, "PING").ToString()
			if err == nil && pong != "PONG" {
				err = fmt.Errorf("PING answered %q", pong)
			}
			return err
		})
	}
	masterIP, _, _ := unstructured.NestedString(r.get().Object, "status", "master", "ip")
	master := r.client(r.masterAddr())
	eventually(t, 30*time.Second, "the master Service leads to the master", func() error {
		role, err := do(ctx, master, "ROLE").ToArray()
		if err != nil {
			return err
		}
		if kind, _ := role[0].ToString(); kind != "master" {
			return fmt.Errorf("ROLE through the master Service: %s", kind)
		}
		return nil
	})
	sentinel := r.client(r.sentinelAddr())
	eventually(t, 30*time.Second, "SENTINEL get-master-addr-by-name on the sentinel Service names status.master", func() error {
		addr, err := r.sentinelMaster(ctx, sentinel)
		if err != nil {
			return err
		}
		if host, _, _ := net.SplitHostPort(addr); host != masterIP {
			return fmt.Errorf("Sentinel names %s, status.master.ip is %s", addr, masterIP)
		}
		return nil
	})
}

// eventually retries check every 200 ms until it succeeds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < timeout {
		if err = check(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %v: %v", what, timeout, err)
}

// deleteAndCollect deletes the RedisFailover and waits until the garbage collector removed
// every child and every pod; PVCs stay only with storage.keepAfterDeletion.
func (r *rfTest) deleteAndCollect(ctx context.Context) {
	t := r.t
	rf := r.get()
	uid := string(rf.GetUID())
	keep, _, _ := unstructured.NestedBool(rf.Object, "spec", "redis", "storage", "keepAfterDeletion")
	_, pvc, _ := unstructured.NestedMap(rf.Object, "spec", "redis", "storage", "persistentVolumeClaim")
	pvcsBefore, err := r.c.client.List(ctx, pvcGVK, r.ns, "")
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, r.c.client.Delete(ctx, rfGVK, r.ns, r.name))
	kinds := append([]schema.GroupVersionKind(nil), r.c.controller.Driver.ChildTypes...)
	var left []string
	for time.Since(start) < 3*time.Minute {
		left = nil
		for _, k := range kinds {
			objs, err := r.c.client.List(ctx, k, r.ns, "controller-uid="+uid)
			require.NoError(t, err)
			for _, o := range objs {
				left = append(left, k.Kind+"/"+o.GetName())
			}
		}
		pods, err := r.c.client.List(ctx, podGVK, r.ns, "app.kubernetes.io/name="+r.name)
		require.NoError(t, err)
		for _, o := range pods {
			left = append(left, "Pod/"+o.GetName())
		}
		if len(left) == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	require.Empty(t, left, "children left %v after deleting the RedisFailover", time.Since(start).Round(time.Second))
	t.Logf("deletion: every child and pod gone after %.1fs", time.Since(start).Seconds())
	if !pvc || len(pvcsBefore) == 0 {
		return
	}
	if keep {
		time.Sleep(3 * time.Second) // a wrong deletion would be under way by now
		pvcs, err := r.c.client.List(ctx, pvcGVK, r.ns, "")
		require.NoError(t, err)
		var alive int
		for _, p := range pvcs {
			if p.GetDeletionTimestamp() == nil {
				alive++
			}
		}
		assert.Equal(t, len(pvcsBefore), alive, "keepAfterDeletion: the PVCs stay")
		return
	}
	var n int
	for time.Since(start) < 2*time.Minute {
		pvcs, err := r.c.client.List(ctx, pvcGVK, r.ns, "")
		require.NoError(t, err)
		if n = len(pvcs); n == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	assert.Zero(t, n, "without keepAfterDeletion the PVCs go with the RedisFailover")
}

// bootstrapSource starts a plain redis pod in a new namespace ns (created here; deployYAML then
// finds it) and returns its IP.
func bootstrapSource(t *testing.T, c *cluster, ns string) string {
	t.Helper()
	ctx := t.Context()
	_, err := c.kubectl(ctx, "create", "namespace", ns)
	require.NoError(t, err)
	pod := `apiVersion: v1
kind: Pod
metadata: {name: bootstrap-source}
spec:
  containers:
  - name: redis
    image: ` + redisImage + `
    imagePullPolicy: IfNotPresent
    command: ["redis-server", "--protected-mode", "no"]
`
	objs, err := driver.DecodeYAML([]byte(pod))
	require.NoError(t, err)
	objs[0].SetNamespace(ns)
	_, err = c.client.Create(ctx, objs[0], false)
	require.NoError(t, err)
	var ip string
	eventually(t, 2*time.Minute, "the bootstrap source pod runs", func() error {
		p, err := c.client.Get(ctx, podGVK, ns, "bootstrap-source")
		if err != nil {
			return err
		}
		ip, _, _ = unstructured.NestedString(p.Object, "status", "podIP")
		if ip == "" || !podReady(p) {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	return ip
}
