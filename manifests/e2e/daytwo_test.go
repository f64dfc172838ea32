//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/redhook/redhook/healer/redistest"
)

// masterWatch follows, every 100 ms, the master Sentinel names (each change is a failover or a
// switchover) and SENTINEL CKQUORUM through the sentinel Service; summary adds the healer's
// planned switchovers, from redhook's log (the status keeps only the last 10 actions).
type masterWatch struct {
	r       *rfTest
	start   time.Time
	masters []string
	// quorumLost counts the samples in which the sentinel Service's SENTINEL CKQUORUM failed,
	// by error.
	quorumLost map[string]int
	samples    int
	stop       func()
	// switchovers are the healer's planned switchovers, set by summary.
	switchovers []string
}

func (r *rfTest) watchMasters(ctx context.Context) *masterWatch {
	sentinel := r.client(r.sentinelAddr())
	m := &masterWatch{r: r, start: time.Now(), quorumLost: map[string]int{}}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	m.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if addr, err := r.sentinelMaster(ctx, sentinel); err == nil {
				h, _, _ := net.SplitHostPort(addr)
				if len(m.masters) == 0 || m.masters[len(m.masters)-1] != h {
					m.masters = append(m.masters, h)
				}
			}
			m.samples++
			if err := do(ctx, sentinel, "SENTINEL", "CKQUORUM", r.masterSet()).Error(); err != nil && ctx.Err() == nil {
				m.quorumLost[err.Error()]++
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return m
}

// summary stops the watch and says what it saw.
func (m *masterWatch) summary() string {
	m.stop()
	m.switchovers = m.r.healerActions(m.start, "switchover ")
	return fmt.Sprintf("%d master change(s) (%s), planned switchovers by the healer %q", len(m.masters)-1,
		strings.Join(m.masters, " → "), m.switchovers)
}

// healerActions are the heal actions redhook logged for this RedisFailover since from whose
// text starts with prefix.
func (r *rfTest) healerActions(from time.Time, prefix string) []string {
	r.t.Helper()
	out, err := r.c.kubectl(r.t.Context(), "-n", "redhook-system", "logs", "deploy/redhook",
		"--since-time="+from.Add(-time.Second).UTC().Format(time.RFC3339))
	require.NoError(r.t, err)
	var acts []string
	for _, line := range strings.Split(out, "\n") {
		var l struct{ Level, Namespace, Name, Action, Message, Time string }
		// A failed action is logged at warn with its error: not counted.
		if json.Unmarshal([]byte(line), &l) != nil || l.Message != "heal action" || l.Level != "info" ||
			l.Namespace != r.ns || l.Name != r.name {
			continue
		}
		if strings.HasPrefix(l.Action, prefix) {
			acts = append(acts, l.Action+" at "+l.Time)
		}
	}
	return acts
}

// podStarts identifies every start of a redis or sentinel container: pod UID and restart count.
func (r *rfTest) podStarts() map[string]string {
	out := map[string]string{}
	for _, component := range []string{"redis", "sentinel"} {
		for _, p := range r.pods(component) {
			statuses, _, _ := unstructured.NestedSlice(p.Object, "status", "containerStatuses")
			var restarts []string
			for _, s := range statuses {
				sm, _ := s.(map[string]any)
				restarts = append(restarts, fmt.Sprint(sm["name"], "=", sm["restartCount"]))
			}
			slices.Sort(restarts)
			out[p.GetName()] = fmt.Sprint(p.GetUID(), " ", restarts)
		}
	}
	return out
}

// podIPs are the redis pods' IPs by name.
func (r *rfTest) podIPs() map[string]string {
	out := map[string]string{}
	for _, p := range r.pods("redis") {
		ip, _, _ := unstructured.NestedString(p.Object, "status", "podIP")
		out[p.GetName()] = ip
	}
	return out
}

// configOf reads one setting of the redis pod at ip.
func (r *rfTest) configOf(ctx context.Context, ip, key string) (string, error) {
	cl, err := redistest.NewClient(net.JoinHostPort(ip, "6379"), r.password)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	kv, err := do(ctx, cl, "CONFIG", "GET", key).AsStrMap() // RESP3: a map
	if v, ok := kv[key]; err == nil && ok {
		return v, nil
	}
	return "", fmt.Errorf("config get %s at %s: %v %v", key, ip, kv, err)
}

// Day-two operations under the writers, each measured: a customConfig change (applied live: no
// pod restarts, no failover), a sentinel pod template change (the Deployment rolls one pod at a
// time: no failover; SENTINEL CKQUORUM sampled through the sentinel Service), and a scale-down
// to one pod with the master on the highest ordinal (one planned switchover to the pod that
// stays). No write may be lost.
func TestDayTwo(t *testing.T) {
	needCluster(t)
	r := deploy(t, "daytwo", "../examples/basic.yaml")
	t.Logf("Ready=True after %.1fs", r.waitReady(4*time.Minute).Seconds())
	ctx := t.Context()

	t.Run("customConfig", func(t *testing.T) {
		w := r.startWriters("config-")
		starts := r.podStarts()
		watch := r.watchMasters(ctx)
		start := time.Now()
		_, err := r.c.kubectl(ctx, "-n", r.ns, "patch", "rf", r.name, "--type=merge", "-p",
			`{"spec":{"redis":{"customConfig":["maxmemory-policy allkeys-lru"]},"sentinel":{"customConfig":["down-after-milliseconds 6000"]}}}`)
		require.NoError(t, err)
		eventually(t, 2*time.Minute, "maxmemory-policy applied on every redis pod", func() error {
			for name, ip := range r.podIPs() {
				if v, err := r.configOf(ctx, ip, "maxmemory-policy"); err != nil || v != "allkeys-lru" {
					return fmt.Errorf("%s: %q %v", name, v, err)
				}
			}
			return nil
		})
		eventually(t, time.Minute, "down-after-milliseconds applied on every sentinel", func() error {
			for _, p := range r.pods("sentinel") {
				ip, _, _ := unstructured.NestedString(p.Object, "status", "podIP")
				cl, err := redistest.NewClient(net.JoinHostPort(ip, "26379"), r.sentinelPassword())
				if err != nil {
					return err
				}
				m, err := do(ctx, cl, "SENTINEL", "MASTER", r.masterSet()).AsStrMap()
				cl.Close()
				if err != nil || m["down-after-milliseconds"] != "6000" {
					return fmt.Errorf("%s: down-after-milliseconds %q %v", p.GetName(), m["down-after-milliseconds"], err)
				}
			}
			return nil
		})
		applied := time.Since(start)
		time.Sleep(5 * time.Second) // anything the change would roll has started by now
		r.waitReady(2 * time.Minute)
		t.Logf("customConfig applied live on every redis and sentinel pod after %.1fs; %s", applied.Seconds(), watch.summary())
		assert.Equal(t, starts, r.podStarts(), "no pod replaced or restarted")
		assert.Len(t, watch.masters, 1, "no failover")
		r.verify(w, "customConfig change")
	})

	t.Run("sentinel rollout", func(t *testing.T) {
		w := r.startWriters("sentinels-")
		before := map[string]bool{}
		for _, p := range r.pods("sentinel") {
			before[p.GetName()] = true
		}
		watch := r.watchMasters(ctx)
		quorum := r.watchQuorum(ctx)
		start := time.Now()
		_, err := r.c.kubectl(ctx, "-n", r.ns, "patch", "rf", r.name, "--type=merge", "-p",
			`{"spec":{"sentinel":{"resources":{"requests":{"cpu":"20m","memory":"32Mi"}}}}}`)
		require.NoError(t, err)
		eventually(t, 4*time.Minute, "every sentinel pod replaced and Ready", func() error {
			pods := r.pods("sentinel")
			for _, p := range pods {
				if before[p.GetName()] || !podReady(p) {
					return fmt.Errorf("%s not replaced or not Ready", p.GetName())
				}
			}
			if len(pods) != 3 {
				return fmt.Errorf("%d sentinel pods", len(pods))
			}
			return nil
		})
		r.waitReady(2 * time.Minute)
		took := time.Since(start)
		time.Sleep(2 * time.Second)
		lost, someFailed, samples := quorum.stop()
		t.Logf("sentinel Deployment rolled in %.1fs; %s; SENTINEL CKQUORUM through the Service failed in %v of %d samples; "+
			"asked of every sentinel pod: failed on some in %d of %d samples, on all (no sentinel could authorize a failover) in %d",
			took.Seconds(), watch.summary(), watch.quorumLost, watch.samples, someFailed, samples, lost)
		assert.Len(t, watch.masters, 1, "no failover")
		r.verify(w, "sentinel rollout")
	})

	t.Run("scale 3 to 1, master on the highest ordinal", func(t *testing.T) {
		r.moveMasterTo(ctx, "rfr-"+r.name+"-2")
		w := r.startWriters("scaledown-")
		watch := r.watchMasters(ctx)
		start := time.Now()
		_, err := r.c.kubectl(ctx, "-n", r.ns, "scale", "rf", r.name, "--replicas=1")
		require.NoError(t, err)
		eventually(t, 4*time.Minute, "one redis pod", func() error {
			if n := len(r.pods("redis")); n != 1 {
				return fmt.Errorf("%d redis pods", n)
			}
			return nil
		})
		r.waitReady(2 * time.Minute)
		took := time.Since(start)
		time.Sleep(2 * time.Second)
		t.Logf("scaled 3 → 1 in %.1fs; %s; longest write gap through the master Service %v, through Sentinel %v",
			took.Seconds(), watch.summary(), w.svc.LongestGap().Round(time.Millisecond), w.sentinel.LongestGap().Round(time.Millisecond))
		assert.Len(t, watch.masters, 2, "one master change")
		assert.Len(t, watch.switchovers, 1, "one planned switchover")
		assert.Equal(t, "rfr-"+r.name+"-0", r.masterPod())
		r.verify(w, "scale 3 → 1")
	})
}

// moveMasterTo makes Sentinel promote pod (no writers run): the other replicas get
// replica-priority 0, which the healer leaves alone, for one SENTINEL FAILOVER; then 100 again.
func (r *rfTest) moveMasterTo(ctx context.Context, pod string) {
	r.t.Helper()
	if r.masterPod() == pod {
		return
	}
	ips := r.podIPs()
	setPriority := func(value string) {
		for name, ip := range ips {
			if name == pod {
				continue
			}
			cl := r.client(net.JoinHostPort(ip, "6379"))
			require.NoError(r.t, do(ctx, cl, "CONFIG", "SET", "replica-priority", value).Error())
		}
	}
	setPriority("0")
	sentinel := r.client(r.sentinelAddr())
	eventually(r.t, time.Minute, "Sentinel promotes "+pod, func() error {
		addr, err := r.sentinelMaster(ctx, sentinel)
		if err != nil {
			return err
		}
		if h, _, _ := net.SplitHostPort(addr); h == ips[pod] {
			return nil
		}
		_ = do(ctx, sentinel, "SENTINEL", "FAILOVER", r.masterSet()).Error() // INPROG while one runs
		return fmt.Errorf("master %s", addr)
	})
	setPriority("100")
	eventually(r.t, 2*time.Minute, "status names "+pod, func() error {
		if m := r.masterPod(); m != pod {
			return fmt.Errorf("status master %q", m)
		}
		return nil
	})
	r.waitReady(2 * time.Minute)
}

// quorumWatch asks every sentinel pod SENTINEL CKQUORUM every 200 ms. A sample in which every
// sentinel fails is one in which no sentinel could authorize a failover: the quorum is lost. One
// in which some fail is a sentinel that does not (yet, or since a SENTINEL RESET) know enough
// peers, while others could.
type quorumWatch struct {
	stop func() (lost, someFailed, samples int)
}

func (r *rfTest) watchQuorum(ctx context.Context) quorumWatch {
	ctx, cancel := context.WithCancel(ctx)
	var lost, someFailed, samples int
	done := make(chan struct{})
	go func() {
		defer close(done)
		clients := map[string]rueidis.Client{}
		defer func() {
			for _, c := range clients {
				c.Close()
			}
		}()
		var ips []string
		var listed time.Time
		for ctx.Err() == nil {
			if time.Since(listed) > time.Second {
				ips, listed = nil, time.Now()
				// Not r.pods: require may not stop the test from this goroutine.
				pods, _ := r.c.client.List(ctx, podGVK, r.ns, "app.kubernetes.io/name="+r.name+",app.kubernetes.io/component=sentinel")
				for _, p := range pods {
					if ip, _, _ := unstructured.NestedString(p.Object, "status", "podIP"); ip != "" && p.GetDeletionTimestamp() == nil {
						ips = append(ips, ip)
					}
				}
			}
			ok, failed := 0, 0
			for _, ip := range ips {
				c, found := clients[ip]
				if !found {
					var err error
					if c, err = redistest.NewClient(net.JoinHostPort(ip, "26379"), r.sentinelPassword()); err != nil {
						failed++
						continue
					}
					clients[ip] = c
				}
				if do(ctx, c, "SENTINEL", "CKQUORUM", r.masterSet()).Error() == nil {
					ok++
				} else {
					failed++
				}
			}
			if ctx.Err() != nil || len(ips) == 0 {
				break
			}
			samples++
			if failed > 0 {
				someFailed++
			}
			if ok == 0 {
				lost++
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	return quorumWatch{stop: func() (int, int, int) { cancel(); <-done; return lost, someFailed, samples }}
}
