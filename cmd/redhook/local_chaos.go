package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redhook/redhook/hooks"
)

// chaosMonkey kills random processes of a local RedisFailover while a writer issues SET + WAIT 1
// through Sentinel, then reports kills, failovers, recovery times and lost writes.
type chaosMonkey struct {
	c        *localCluster
	duration time.Duration
	every    time.Duration

	mu        sync.Mutex
	kills     map[string]int
	recovery  []time.Duration
	failovers int
	written   int
	confirmed []string
	lost      []string
}

func newChaos(c *localCluster, duration, every time.Duration) *chaosMonkey {
	return &chaosMonkey{c: c, duration: duration, every: every, kills: map[string]int{}}
}

func (m *chaosMonkey) run(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, m.duration+2*time.Minute)
	defer cancel()
	if !m.c.waitReady(ctx, 2*time.Minute) {
		fmt.Fprintln(m.c.out, "chaos: the RedisFailover never became ready; no chaos")
		return
	}
	client, err := m.c.sentinelClient()
	if err != nil {
		fmt.Fprintln(m.c.out, "chaos: no writer:", err)
		return
	}
	defer client.Close()
	defer m.summary(m.c.out)
	writeCtx, stopWriter := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.write(writeCtx, client) })
	go m.countFailovers(writeCtx)
	end := time.Now().Add(m.duration)
	for time.Now().Before(end) {
		wait := time.Duration(rand.ExpFloat64() * float64(m.every))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		if !m.killOne() {
			continue
		}
		// Recovery: from the kill until Ready is True again, once the status has noticed.
		m.c.waitReadyIs(ctx, false, 10*time.Second)
		if m.c.waitReady(ctx, time.Minute) {
			m.mu.Lock()
			m.recovery = append(m.recovery, time.Since(start))
			m.mu.Unlock()
		}
	}
	m.c.waitReady(ctx, time.Minute)
	stopWriter()
	wg.Wait()
	m.verify(ctx, client)
}

// killOne SIGKILLs a random master, replica or sentinel; false when nothing could be killed.
func (m *chaosMonkey) killOne() bool {
	c := m.c
	c.mu.Lock()
	master := c.report.Master
	c.mu.Unlock()
	var masters, replicas []*localPod
	for _, p := range c.redis {
		if master != nil && p.ip == master.IP {
			masters = append(masters, p)
		} else {
			replicas = append(replicas, p)
		}
	}
	groups := map[string][]*localPod{"master": masters, "replica": replicas, "sentinel": c.sentinel}
	kinds := []string{}
	for k, v := range groups {
		if len(v) > 0 {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) == 0 {
		return false
	}
	slices.Sort(kinds)
	kind := kinds[rand.IntN(len(kinds))]
	victim := groups[kind][rand.IntN(len(groups[kind]))]
	if err := victim.proc.kill(false); err != nil {
		return false
	}
	fmt.Fprintf(c.out, "%s chaos: killed %s %s\n", time.Now().Format("15:04:05.000"), kind, victim.name)
	m.mu.Lock()
	m.kills[kind]++
	m.mu.Unlock()
	return true
}

// write issues SET then WAIT 1 on one connection; a write is confirmed when a replica has it.
func (m *chaosMonkey) write(ctx context.Context, client rueidis.Client) {
	for i := 0; ctx.Err() == nil; i++ {
		key := "chaos:" + strconv.Itoa(i)
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		res := client.DoMulti(cctx, client.B().Set().Key(key).Value(key).Build(),
			client.B().Wait().Numreplicas(1).Timeout(200).Build())
		cancel()
		m.mu.Lock()
		m.written++
		if res[0].Error() == nil {
			if n, err := res[1].AsInt64(); err == nil && n >= 1 {
				m.confirmed = append(m.confirmed, key)
			}
		}
		m.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

func (m *chaosMonkey) countFailovers(ctx context.Context) {
	last := ""
	for ctx.Err() == nil {
		m.c.mu.Lock()
		cur := ""
		if m.c.report.Master != nil {
			cur = m.c.report.Master.Pod
		}
		m.c.mu.Unlock()
		if cur != "" && last != "" && cur != last {
			m.mu.Lock()
			m.failovers++
			m.mu.Unlock()
		}
		if cur != "" {
			last = cur
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verify reads every confirmed key back from the master.
func (m *chaosMonkey) verify(ctx context.Context, client rueidis.Client) {
	m.mu.Lock()
	keys := append([]string(nil), m.confirmed...)
	m.mu.Unlock()
	for _, k := range keys {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		v, err := client.Do(cctx, client.B().Get().Key(k).Build()).ToString()
		cancel()
		if err != nil || v != k {
			m.mu.Lock()
			m.lost = append(m.lost, k)
			m.mu.Unlock()
		}
	}
}

func (m *chaosMonkey) summary(out io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(out, "chaos summary: kills master=%d replica=%d sentinel=%d; failovers observed %d\n",
		m.kills["master"], m.kills["replica"], m.kills["sentinel"], m.failovers)
	if len(m.recovery) > 0 {
		lo, med, hi := minMedianMax(m.recovery)
		fmt.Fprintf(out, "chaos summary: time to Ready again min %s median %s max %s (%d kills)\n",
			lo.Round(time.Millisecond), med.Round(time.Millisecond), hi.Round(time.Millisecond), len(m.recovery))
	}
	fmt.Fprintf(out, "chaos summary: writes %d, confirmed by WAIT 1 %d, confirmed writes lost %d\n",
		m.written, len(m.confirmed), len(m.lost))
}

func minMedianMax(ds []time.Duration) (lo, med, hi time.Duration) {
	s := append([]time.Duration(nil), ds...)
	slices.Sort(s)
	return s[0], s[len(s)/2], s[len(s)-1]
}

// waitReady waits until the status says Ready=True.
func (c *localCluster) waitReady(ctx context.Context, limit time.Duration) bool {
	return c.waitReadyIs(ctx, true, limit)
}

// waitReadyIs waits until the status's Ready condition is True (want) or not True (!want).
func (c *localCluster) waitReadyIs(ctx context.Context, want bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c.mu.Lock()
		ready := conditionIs(c.status.Conditions, hooks.ConditionReady, "True")
		c.mu.Unlock()
		if ready == want {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func conditionIs(conds []metav1.Condition, t, status string) bool {
	for _, c := range conds {
		if c.Type == t {
			return string(c.Status) == status
		}
	}
	return false
}

// sentinelClient is a Sentinel-aware client of the local RedisFailover.
func (c *localCluster) sentinelClient() (rueidis.Client, error) {
	if len(c.sentinel) == 0 {
		return nil, fmt.Errorf("no sentinels")
	}
	addrs := make([]string, len(c.sentinel))
	for i, s := range c.sentinel {
		addrs[i] = s.addr()
	}
	rf := c.parent.WithDefaults()
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  addrs,
		Sentinel:     rueidis.SentinelOption{MasterSet: rf.Spec.Sentinel.MasterName, Password: c.password},
		Password:     c.password,
		DisableCache: true,
		Dialer:       net.Dialer{Timeout: time.Second},
	})
}
