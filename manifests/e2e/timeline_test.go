//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/redis/rueidis"

	"github.com/redhook/redhook/healer/redistest"
)

// A timeline says where a failover's write gap went: each redis pod's role as it changed (ROLE
// every 20 ms), each change of the master EndpointSlice, and the writer's acknowledgements
// around its gaps and its failures, in order, relative to the disruption.

// event is one line of a timeline.
type event struct {
	at   time.Time
	what string
}

// watchTimeline records the role changes of the redis pods and the changes of the rfrm-
// EndpointSlice until stop, which returns them.
func (r *rfTest) watchTimeline() (stop func() []event) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var evs []event
	var wg sync.WaitGroup
	// poll calls probe every 20 ms and records each new answer.
	poll := func(probe func() (string, bool)) {
		defer wg.Done()
		last := ""
		for ctx.Err() == nil {
			if now, ok := probe(); ok && now != last {
				mu.Lock()
				evs = append(evs, event{time.Now(), now})
				mu.Unlock()
				last = now
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for pod, ip := range r.podIPs() {
		cl, err := redistest.NewClient(net.JoinHostPort(ip, "6379"), r.password)
		if err != nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer cl.Close()
			poll(func() (string, bool) { return pod + " " + roleLine(ctx, cl), ctx.Err() == nil })
		}()
	}
	// Every EndpointSlice kube-proxy programs for this RedisFailover: a change of any of them
	// takes one of kube-proxy's syncs (at most two a second, then one a second), which a move
	// of the master's may then wait for.
	for _, service := range []string{"rfrm-" + r.name, "rfrs-" + r.name, "rfs-" + r.name} {
		wg.Add(1)
		go poll(func() (string, bool) {
			addrs, err := r.serviceSliceAddrs(ctx, service)
			return strings.SplitN(service, "-", 2)[0] + " EndpointSlice [" + strings.Join(addrs, ",") + "]", err == nil
		})
	}
	return func() []event {
		cancel()
		wg.Wait()
		return evs
	}
}

// masterSliceAddrs are the addresses of the rfrm- EndpointSlice's endpoints, in order.
func (r *rfTest) masterSliceAddrs(ctx context.Context) ([]string, error) {
	return r.serviceSliceAddrs(ctx, "rfrm-"+r.name)
}

// serviceSliceAddrs are the addresses of the endpoints of the EndpointSlices of a Service, in
// order, with " (not ready)" after those not ready.
func (r *rfTest) serviceSliceAddrs(ctx context.Context, service string) ([]string, error) {
	slices, err := r.c.client.List(ctx, sliceGVK, r.ns, "kubernetes.io/service-name="+service)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, slice := range slices {
		eps, _, _ := unstructured.NestedSlice(slice.Object, "endpoints")
		for _, ep := range eps {
			a, _, _ := unstructured.NestedStringSlice(ep.(map[string]any), "addresses")
			if ready, found, _ := unstructured.NestedBool(ep.(map[string]any), "conditions", "ready"); found && !ready {
				for i := range a {
					a[i] += " (not ready)"
				}
			}
			addrs = append(addrs, a...)
		}
	}
	return addrs, nil
}

// roleLine is ROLE's answer in short: "master", "slave HOST PORT STATE", or the error.
func roleLine(ctx context.Context, cl rueidis.Client) string {
	v, err := do(ctx, cl, "ROLE").ToArray()
	if err != nil {
		return "error " + err.Error()
	}
	var parts []string
	for i, e := range v {
		if s, err := e.ToString(); err == nil && i < 4 {
			parts = append(parts, s)
		} else if n, err := e.AsInt64(); err == nil && i < 4 {
			parts = append(parts, fmt.Sprint(n))
		}
	}
	if len(parts) > 0 && parts[0] == "master" {
		return "master"
	}
	return strings.Join(parts, " ")
}

// logTimeline logs evs and the writers' events (writerEvents) since t0, in order.
func (r *rfTest) logTimeline(t0 time.Time, evs []event, w *writers) {
	evs = append(evs, writerEvents(t0, w.svc, "master Service writer")...)
	evs = append(evs, writerEvents(t0, w.sentinel, "Sentinel writer")...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].at.Before(evs[j].at) })
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  +%6.3fs %s\n", e.at.Sub(t0).Seconds(), e.what)
	}
	r.t.Logf("timeline:\n%s", b.String())
}

// writerEvents are, from w since t0, the acknowledgement before and after each pause of more
// than 200 ms, and the failures (consecutive equal errors on one line).
func writerEvents(t0 time.Time, w *redistest.Writer, name string) []event {
	var evs []event
	var prev *redistest.Write
	var failed []redistest.Write
	for _, wr := range w.Writes() {
		switch {
		case wr.Replied.Before(t0):
		case wr.Result == redistest.Failed:
			failed = append(failed, wr)
		default:
			if prev != nil && wr.Replied.Sub(prev.Replied) > 200*time.Millisecond {
				evs = append(evs, event{prev.Replied, name + ": last acknowledgement before a pause"},
					event{wr.Replied, fmt.Sprintf("%s: acknowledged again after %v", name,
						wr.Replied.Sub(prev.Replied).Round(time.Millisecond))})
			}
			p := wr
			prev = &p
		}
	}
	for i := 0; i < len(failed); {
		j := i
		for j+1 < len(failed) && failed[j+1].Err == failed[i].Err {
			j++
		}
		evs = append(evs, event{failed[i].Replied, fmt.Sprintf("%s: %d × failed until +%.3fs: %s", name, j-i+1,
			failed[j].Replied.Sub(t0).Seconds(), failed[i].Err)})
		i = j + 1
	}
	return evs
}
