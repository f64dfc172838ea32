//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/manifests/internal/driver"
)

// kubectl scale up and down under the writers; then every pod evicted through the Eviction API,
// one at a time: the PodDisruptionBudgets refuse a second eviction while one pod is away.
func TestScaleAndEvict(t *testing.T) {
	needCluster(t)
	r := deploy(t, "scale", "../examples/basic.yaml")
	t.Logf("Ready=True after %.1fs", r.waitReady(4*time.Minute).Seconds())
	w := r.startWriters("scale-")
	ctx := t.Context()

	for _, n := range []int{5, 3} {
		start := time.Now()
		_, err := r.c.kubectl(ctx, "-n", r.ns, "scale", "rf", r.name, fmt.Sprintf("--replicas=%d", n))
		require.NoError(t, err)
		for time.Since(start) < 4*time.Minute {
			r.waitReady(4 * time.Minute)
			rf := r.get()
			replicas, _, _ := unstructured.NestedInt64(rf.Object, "status", "redis", "replicas")
			ready, _, _ := unstructured.NestedInt64(rf.Object, "status", "redis", "ready")
			if replicas == int64(n) && ready == int64(n) && len(r.pods("redis")) == n {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		assert.Len(t, r.pods("redis"), n)
		t.Logf("scaled to %d redis pods: Ready after %.1fs", n, time.Since(start).Seconds())
	}

	for _, component := range []string{"redis", "sentinel"} {
		for _, pod := range r.pods(component) {
			name := pod.GetName()
			// The redis evictions log a timeline (roles, the EndpointSlices, the writers' gaps):
			// where a slow hand-over's time went.
			var stopTimeline func() []event
			if component == "redis" {
				stopTimeline = r.watchTimeline()
			}
			start := time.Now()
			// Evicted as kubectl drain does: a refusal (429, a PodDisruptionBudget: another pod
			// is not Ready yet, e.g. a replica resyncing) is retried.
			var refusals int
			eventually(t, 2*time.Minute, "evict "+name, func() error {
				err := r.evict(ctx, name)
				var ae *driver.APIError
				if errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests {
					refusals++
				}
				return err
			})
			// While it is away, evicting another redis pod is refused (maxUnavailable 1; the
			// StatefulSet's replacement keeps the name and comes after the old pod is gone).
			// Sentinels are a Deployment: the replacement may already be Ready, and then the
			// budget (minAvailable = quorum) rightly allows one more: not asserted.
			if component == "redis" {
				var refused bool
				for _, other := range r.pods(component) {
					if other.GetName() == name || other.GetDeletionTimestamp() != nil {
						continue
					}
					err := r.evict(ctx, other.GetName())
					var ae *driver.APIError
					if errors.As(err, &ae) && ae.Code == http.StatusTooManyRequests {
						refused = true
					} else {
						t.Errorf("evicting %s while %s is away: want 429 (PodDisruptionBudget), got %v", other.GetName(), name, err)
					}
					break
				}
				assert.True(t, refused, "a second redis eviction is refused")
			}
			// Wait for the replacement and for Ready.
			for time.Since(start) < 3*time.Minute {
				p, err := r.c.client.Get(ctx, podGVK, r.ns, name)
				if err == nil && p.GetUID() != pod.GetUID() && podReady(p) {
					break
				}
				if component == "sentinel" && err != nil && driver.IsNotFound(err) {
					break // a Deployment's pod comes back under another name
				}
				time.Sleep(300 * time.Millisecond)
			}
			r.waitReady(3 * time.Minute)
			if stopTimeline != nil {
				r.logTimeline(start, stopTimeline(), w)
			}
			svcGap, sentGap := gapIn(w.svc, start, time.Now()), gapIn(w.sentinel, start, time.Now())
			t.Logf("evicted %s (%d refusals first): Ready again after %.1fs; longest write gap through the master Service %v, through Sentinel %v",
				name, refusals, time.Since(start).Seconds(), svcGap.Round(time.Millisecond), sentGap.Round(time.Millisecond))
			if component == "redis" && max(svcGap, sentGap) > time.Second {
				r.logsSince(start, "evicted "+name+": a write gap over 1s")
			}
		}
	}
	r.verify(w, "scale and evictions")
}

func podReady(p *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
	for _, c := range conds {
		m := c.(map[string]any)
		if m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}

// evict posts an Eviction for a pod.
func (r *rfTest) evict(ctx context.Context, pod string) error {
	body := fmt.Sprintf(`{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":%q,"namespace":%q}}`, pod, r.ns)
	_, err := r.c.client.Do(ctx, http.MethodPost, "/api/v1/namespaces/"+r.ns+"/pods/"+pod+"/eviction", nil, "", []byte(body))
	return err
}

// checkAuth: clients need the password, and the password is in no ConfigMap (nor in the
// RedisFailover's status).
func (r *rfTest) checkAuth(ctx context.Context) {
	t := r.t
	// Without the password: refused at the handshake (HELLO) or at the first command. The
	// sentinels require it only with spec.auth.sentinel (spotahome's sentinels required none).
	addrs := []string{r.masterAddr()}
	if on, _, _ := unstructured.NestedBool(r.get().Object, "spec", "auth", "sentinel"); on {
		addrs = append(addrs, r.sentinelAddr())
	}
	for _, addr := range addrs {
		var err error
		eventually(t, 30*time.Second, "a client without password is refused by "+addr, func() error {
			cl, cerr := redistest.NewClient(addr, "")
			if cerr == nil {
				err = do(ctx, cl, "PING").Error()
				cl.Close()
			} else {
				err = cerr
			}
			if err == nil || !strings.Contains(err.Error(), "NOAUTH") {
				return fmt.Errorf("want NOAUTH, got %v", err)
			}
			return nil
		})
	}
	cms, err := r.c.client.List(ctx, cmGVK, r.ns, "")
	require.NoError(t, err)
	require.NotEmpty(t, cms)
	for _, cm := range cms {
		b, err := cm.MarshalJSON()
		require.NoError(t, err)
		assert.NotContains(t, string(b), r.password, "ConfigMap %s holds the password", cm.GetName())
	}
	status := r.get().Object["status"]
	assert.NotContains(t, fmt.Sprint(status), r.password, "the status holds the password")
	t.Logf("auth: no password, no access; the password is in none of %d ConfigMaps nor in the status", len(cms))
}

// checkPersistence: the data survives deleting every redis pod at once (persistent volumes;
// the shutdown hook SAVEs).
func (r *rfTest) checkPersistence(ctx context.Context, w *writers) {
	t := r.t
	start := time.Now()
	old := map[string]bool{}
	before := r.pods("redis")
	for _, p := range before {
		old[string(p.GetUID())] = true
	}
	_, err := r.c.kubectl(ctx, "-n", r.ns, "delete", "pods", "-l", "app.kubernetes.io/component=redis,app.kubernetes.io/name="+r.name, "--wait=false")
	require.NoError(t, err)
	// Every pod replaced (graceful shutdown: the preStop hook SAVEs), then Ready.
	eventually(t, 5*time.Minute, "every redis pod replaced", func() error {
		pods := r.pods("redis")
		for _, p := range pods {
			if old[string(p.GetUID())] {
				return fmt.Errorf("%s not replaced yet", p.GetName())
			}
		}
		if len(pods) != len(before) {
			return fmt.Errorf("%d of %d pods", len(pods), len(before))
		}
		return nil
	})
	r.waitReady(5 * time.Minute)
	t.Logf("persistence: every redis pod deleted, Ready again after %.1fs", time.Since(start).Seconds())
	r.verify(w, "after deleting every redis pod")
}

// A spec change that rolls the StatefulSet (resources) under the writers, twice in one run: first
// on a RedisFailover annotated redhook.io/rollout: rolling-update (the baseline: the
// StatefulSet's own rolling update, highest ordinal first, blind to the master, whose pod hands
// over in its preStop hook), then on one with the default role-aware rollout (the partition
// keeps the master's pod for last and the healer switches over once, rule 14). Printed side by
// side: the master changes, the healer's switchovers, the longest write gaps and the losses.
// Asserted for the role-aware rollout only: every master change is a planned switchover, and
// no confirmed write is lost.
func TestRollingUpdate(t *testing.T) {
	c := needCluster(t)
	b, err := os.ReadFile("../examples/basic.yaml")
	require.NoError(t, err)
	plain := strings.Replace(string(b), "\n  name: basic\n", "\n  name: basic\n  annotations:\n    redhook.io/rollout: rolling-update\n", 1)
	require.NotEqual(t, string(b), plain, "the baseline's annotation is set")

	base := deployYAML(t, c, "rollout-baseline", plain)
	baseline := base.rollOut("base-")
	// Out of the way before the measured rollout: its pods would share the machine.
	require.NoError(t, c.client.Delete(t.Context(), nsGVK, "", base.ns))
	eventually(t, 3*time.Minute, "the baseline's namespace is gone", func() error {
		if pods, err := c.client.List(t.Context(), podGVK, base.ns, ""); err != nil || len(pods) > 0 {
			return fmt.Errorf("%d pods left (%v)", len(pods), err)
		}
		return nil
	})
	r := deploy(t, "rollout", "../examples/basic.yaml")
	aware := r.rollOut("roll-")

	var table strings.Builder
	table.WriteString("rolling update of 3 redis pods (resources changed), same run:\n" +
		"| rollout | took | master changes | healer switchovers | longest gap master Service / Sentinel | lost confirmed / unconfirmed (Service + Sentinel) |\n")
	for _, x := range []struct {
		name string
		res  rolloutResult
	}{{"StatefulSet RollingUpdate (baseline)", baseline}, {"role-aware (redhook)", aware}} {
		fmt.Fprintf(&table, "| %s | %.1fs | %d | %d | %v / %v | %d / %d |\n", x.name, x.res.took.Seconds(),
			x.res.changes, x.res.switchovers, x.res.paths[0].gap, x.res.paths[1].gap,
			len(x.res.paths[0].loss.Confirmed)+len(x.res.paths[1].loss.Confirmed),
			len(x.res.paths[0].loss.Unconfirmed)+len(x.res.paths[1].loss.Unconfirmed))
	}
	t.Log(table.String())
	// One switchover, two when the master started on the highest ordinal; no other failover.
	assert.Equal(t, aware.changes, aware.switchovers, "every master change is a planned switchover")
	assert.LessOrEqual(t, aware.switchovers, 2)
	for _, p := range aware.paths {
		assert.Empty(t, p.loss.Confirmed, "confirmed writes through the %s lost in the role-aware rollout", p.path)
	}
}

// rolloutResult is one rolling update measured.
type rolloutResult struct {
	took                 time.Duration
	changes, switchovers int
	paths                []pathResult // master Service, Sentinel
}

// rollOut waits for the RedisFailover to be Ready, starts the writers (keys with prefix), changes
// the redis resources and waits for the StatefulSet to roll out and the RedisFailover to be Ready
// again; then it reads the writes back.
func (r *rfTest) rollOut(prefix string) rolloutResult {
	t := r.t
	t.Logf("%s: Ready=True after %.1fs", r.ns, r.waitReady(4*time.Minute).Seconds())
	ctx := t.Context()
	sts0, err := r.c.client.Get(ctx, stsGVK, r.ns, "rfr-"+r.name)
	require.NoError(t, err)
	rev0, _, _ := unstructured.NestedString(sts0.Object, "status", "updateRevision")
	w := r.startWriters(prefix)
	time.Sleep(2 * time.Second)

	watch := r.watchMasters(ctx)
	start := time.Now()
	_, err = r.c.kubectl(ctx, "-n", r.ns, "patch", "rf", r.name, "--type=merge", "-p",
		`{"spec":{"redis":{"resources":{"requests":{"cpu":"20m","memory":"32Mi"}}}}}`)
	require.NoError(t, err)
	var done bool
	var partitions []int64
	for time.Since(start) < 8*time.Minute && !done {
		sts, err := r.c.client.Get(ctx, stsGVK, r.ns, "rfr-"+r.name)
		require.NoError(t, err)
		cur, _, _ := unstructured.NestedString(sts.Object, "status", "currentRevision")
		upd, _, _ := unstructured.NestedString(sts.Object, "status", "updateRevision")
		updated, _, _ := unstructured.NestedInt64(sts.Object, "status", "updatedReplicas")
		if part, found, _ := unstructured.NestedInt64(sts.Object, "spec", "updateStrategy", "rollingUpdate", "partition"); found &&
			(len(partitions) == 0 || partitions[len(partitions)-1] != part) {
			partitions = append(partitions, part)
		}
		ready, _, _ := unstructured.NestedInt64(sts.Object, "status", "readyReplicas")
		done = upd != rev0 && cur == upd && updated == 3 && ready == 3
		time.Sleep(500 * time.Millisecond)
	}
	require.True(t, done, "the StatefulSet rolled out")
	r.waitReady(3 * time.Minute)
	res := rolloutResult{took: time.Since(start)}
	time.Sleep(2 * time.Second)
	t.Logf("%s: rolling update of 3 redis pods: %.1fs, %s, partitions %v", r.ns, res.took.Seconds(), watch.summary(), partitions)
	res.changes, res.switchovers = len(watch.masters)-1, len(watch.switchovers)
	res.paths = r.readBack(w, r.ns+": rolling update")
	return res
}
