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

	"github.com/redis/rueidis"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/redhook/redhook/healer/redistest"
)

// stateSpan is a time a node answered CLUSTER INFO with a cluster_state other than ok.
type stateSpan struct {
	pod, ip, role, state string
	from, to             time.Time
}

// watchClusterStates asks every pod of the namespace for its own cluster_state every 200 ms
// until the returned stop is called, which gives the spans in which a node did not say ok. A node
// answers keyed commands with CLUSTERDOWN while its state is fail: the spans tell which node a
// writer's CLUSTERDOWN replies came from, and when.
func (r *rfTest) watchClusterStates() (stop func() []stateSpan) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu    sync.Mutex
		spans []stateSpan
		open  = map[string]*stateSpan{} // pod/ip → its span under way
	)
	clients := map[string]rueidis.Client{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			for _, c := range clients {
				c.Close()
			}
		}()
		for ctx.Err() == nil {
			pods, err := r.c.client.List(ctx, podGVK, r.ns, "")
			if err == nil {
				for _, p := range pods {
					ip, _, _ := unstructured.NestedString(p.Object, "status", "podIP")
					if ip == "" {
						continue
					}
					c, ok := clients[ip]
					if !ok {
						c, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{net.JoinHostPort(ip, "6379")},
							Password: r.password, DisableCache: true, ForceSingleClient: true, DisableRetry: true,
							ConnWriteTimeout: 500 * time.Millisecond, Dialer: net.Dialer{Timeout: 300 * time.Millisecond}})
						if err != nil {
							continue // not listening yet: no state to report
						}
						clients[ip] = c
					}
					qctx, qcancel := context.WithTimeout(ctx, 500*time.Millisecond)
					info, ierr := c.Do(qctx, c.B().ClusterInfo().Build()).ToString()
					role, _ := c.Do(qctx, c.B().Role().Build()).ToAny()
					qcancel()
					if ierr != nil {
						continue
					}
					state := infoField(info, "cluster_state")
					now := time.Now()
					key := p.GetName() + "/" + ip
					mu.Lock()
					if s := open[key]; s != nil && state == "ok" {
						s.to = now
						spans = append(spans, *s)
						delete(open, key)
					} else if s == nil && state != "ok" {
						r0 := ""
						if l, ok := role.([]any); ok && len(l) > 0 {
							r0 = fmt.Sprint(l[0])
						}
						open[key] = &stateSpan{pod: p.GetName(), ip: ip, role: r0, state: state, from: now}
					}
					mu.Unlock()
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return func() []stateSpan {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, s := range open {
			s.to = time.Now()
			spans = append(spans, *s)
		}
		sort.Slice(spans, func(i, j int) bool { return spans[i].from.Before(spans[j].from) })
		return spans
	}
}

// describeStates says which nodes were not ok, and when relative to from, beside the writer's
// failed writes of the same time.
func describeStates(spans []stateSpan, w *redistest.Writer, from time.Time) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "\n  %s (%s, %s at first): cluster_state %s from %.1fs to %.1fs", s.pod, s.ip, s.role, s.state,
			s.from.Sub(from).Seconds(), s.to.Sub(from).Seconds())
	}
	if len(spans) == 0 {
		b.WriteString(" every node said ok at every look")
	}
	var first, last time.Time
	n := 0
	for _, wr := range w.Writes() {
		if wr.Result == redistest.Failed && strings.HasPrefix(wr.Err, "CLUSTERDOWN") {
			if n == 0 {
				first = wr.Sent
			}
			last, n = wr.Sent, n+1
		}
	}
	if n > 0 {
		fmt.Fprintf(&b, "\n  the writer's %d CLUSTERDOWN replies: sent from %.1fs to %.1fs", n, first.Sub(from).Seconds(), last.Sub(from).Seconds())
	}
	return b.String()
}

// infoField is the value of field in an INFO-style reply ("" when absent). Over RESP3 the
// reply is a verbatim string: its "txt:" format prefix is dropped.
func infoField(info, field string) string {
	for _, line := range strings.Split(strings.TrimPrefix(info, "txt:"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// lastActions lists the healer's actions in the status that came at or after from (whole
// seconds), relative to it.
func (r *rfTest) lastActions(from time.Time) string {
	acts, _, _ := unstructured.NestedSlice(r.get().Object, "status", "lastActions")
	var b strings.Builder
	for i := len(acts) - 1; i >= 0; i-- { // newest first in the status
		m, _ := acts[i].(map[string]any)
		action, _, _ := unstructured.NestedString(m, "action")
		at, _, _ := unstructured.NestedString(m, "time")
		when, err := time.Parse(time.RFC3339, at)
		if err != nil || when.Before(from.Truncate(time.Second)) {
			continue
		}
		fmt.Fprintf(&b, "\n  healer at %.0fs: %s", when.Sub(from).Seconds(), action)
	}
	return b.String()
}
