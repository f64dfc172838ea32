//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/redhook/redhook/healer/redistest"
)

// TestSentinelless runs a RedisFailover without sentinels (spec.sentinel.enabled: false) on
// the real cluster: redhook fails over by itself and clients follow the master Service. Under a
// SET + WAIT 1 writer through the master Service, the master is lost three ways (its pod
// deleted, its redis process killed, its network cut inside the pod); each time a replica is
// promoted, the rfrm- EndpointSlice follows, the old master comes back as a replica and no
// confirmed write is lost. Then the RedisFailover is switched to Sentinel mode while the writer
// runs: the sentinels start on the master, which stays where it is. Printed: the write gap
// through the master Service for each disruption and for the switch.
func TestSentinelless(t *testing.T) {
	c := needCluster(t)
	r := deployYAML(t, c, "sentinelless", `apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata:
  name: nosentinel
spec:
  sentinel:
    enabled: false
`)
	t.Logf("Ready=True after %.1fs", r.waitReady(4*time.Minute).Seconds())
	mode, _, _ := unstructured.NestedString(r.get().Object, "status", "failover", "mode")
	require.Equal(t, "Sentinelless", mode, "status.failover.mode")
	require.Empty(t, r.pods("sentinel"), "no sentinel pods")

	cl := r.client(r.masterAddr())
	w, err := redistest.NewWriter(cl, redistest.WriterConfig{Prefix: "sl-", Wait: 500 * time.Millisecond,
		Timeout: time.Second, Pause: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	time.Sleep(2 * time.Second)

	for _, d := range []struct {
		name    string
		disrupt func(pod *unstructured.Unstructured) (undo func())
	}{
		{"pod deleted", func(pod *unstructured.Unstructured) func() {
			_, err := r.c.kubectl(t.Context(), "-n", r.ns, "delete", "pod", pod.GetName(), "--wait=false")
			require.NoError(t, err)
			return nil
		}},
		{"redis process killed", func(pod *unstructured.Unstructured) func() { return killRedis(t, pod) }},
		{"network cut", func(pod *unstructured.Unstructured) func() { return cutNetwork(t, pod) }},
	} {
		t.Run(d.name, func(t *testing.T) {
			r.t = t
			r.sentinellessFailover(w, d.disrupt)
		})
		r.t = t
		if t.Failed() {
			break
		}
	}

	// Back to Sentinel mode, under the writer: the master stays.
	master := r.masterPod()
	from := time.Now()
	_, err = r.c.kubectl(t.Context(), "-n", r.ns, "patch", "rf", r.name, "--type=merge", "-p",
		`{"spec":{"sentinel":{"enabled":true}}}`)
	require.NoError(t, err)
	took := r.waitReady(4 * time.Minute)
	mode, _, _ = unstructured.NestedString(r.get().Object, "status", "failover", "mode")
	assert.NotEqual(t, "Sentinelless", mode, "status.failover.mode after the switch")
	assert.Len(t, r.pods("sentinel"), 3, "the sentinels run")
	assert.Equal(t, master, r.masterPod(), "the master stays")
	time.Sleep(2 * time.Second)
	t.Logf("switched to Sentinel mode: Ready after %.1fs; write gap through the master Service %v; failed writes: %s",
		took.Seconds(), gapIn(w, from, time.Now()).Round(time.Millisecond), topErrors(w.Errors(from), 3))
	assert.Empty(t, w.Errors(from), "no write failed during the switch")

	stop()
	loss, err := w.Verify(t.Context(), r.client(r.masterAddr()))
	require.NoError(t, err)
	n := w.Counts()
	t.Logf("writes: confirmed %d, unconfirmed %d, failed %d; confirmed lost %d", n.Confirmed, n.Unconfirmed, n.Failed, len(loss.Confirmed))
	assert.Empty(t, loss.Confirmed, "confirmed writes lost")
	noRejections(t, r.c, r.ns)
}

// sentinellessFailover disrupts the master of a sentinel-less RedisFailover and measures the
// promotion (the status' master, which the healer's report sets), the EndpointSlice following
// it, and the write gap through the master Service.
func (r *rfTest) sentinellessFailover(w *redistest.Writer, disrupt func(pod *unstructured.Unstructured) func()) {
	t := r.t
	ctx := t.Context()
	oldName := r.masterPod()
	require.NotEmpty(t, oldName)
	oldPod, err := r.c.client.Get(ctx, podGVK, r.ns, oldName)
	require.NoError(t, err)
	oldIP, _, _ := unstructured.NestedString(oldPod.Object, "status", "podIP")

	t0 := time.Now()
	undo := disrupt(oldPod)
	var followed time.Time
	var newIP string
	eventually(t, 2*time.Minute, "the rfrm- EndpointSlice names a new master", func() error {
		addrs, err := r.masterSliceAddrs(ctx)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0] == oldIP {
			return fmt.Errorf("addresses %v", addrs)
		}
		followed, newIP = time.Now(), addrs[0]
		return nil
	})
	if undo != nil {
		undo()
	}
	_, ok := w.Recovery(ctx, followed, 2*time.Minute)
	require.True(t, ok, "no write through the master Service after the disruption; errors since: %v", w.Errors(t0))
	time.Sleep(time.Second)
	t.Logf("old master %s (%s) → new %s: EndpointSlice followed after %v; write gap through the master Service %v; failed writes: %s%s",
		oldName, oldIP, newIP, followed.Sub(t0).Round(time.Millisecond), gapIn(w, t0, time.Now()).Round(time.Millisecond),
		topErrors(w.Errors(t0), 3), r.lastActions(t0))
	eventually(t, 3*time.Minute, oldName+" a replica again", func() error {
		pod, err := r.c.client.Get(ctx, podGVK, r.ns, oldName)
		if err != nil {
			return err
		}
		ip, _, _ := unstructured.NestedString(pod.Object, "status", "podIP")
		if role, err := r.roleOf(ctx, ip); err != nil || role != "slave" {
			return fmt.Errorf("role %q (%v)", role, err)
		}
		return nil
	})
	r.waitReady(3 * time.Minute)
}
