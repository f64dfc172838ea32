package healer

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
)

// sentinelEvents are the Sentinel channels that make the pool re-check at once: a failover
// happened or ended, an instance went down or came back, a sentinel voted for a failover leader
// (an election every sentinel voted in without a majority is doomed: rule 1's exception), or a
// failover's leader sent the chosen replica REPLICAOF NO ONE (+failover-state-wait-promotion).
// The last one is what moves the master EndpointSlice at the promotion: +switch-master comes only
// once every other replica followed, seconds later (Sentinel reads each once a second), and the
// report names the promoted replica from wait_promotion on (sentinelPromoted).
// See https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#pubsub-messages
var sentinelEvents = []string{"+switch-master", "+sdown", "-sdown", "+odown", "-odown", "+failover-end",
	"+failover-end-for-timeout", "+reboot", "+vote-for-leader", "+failover-state-wait-promotion"}

// subscription is the running subscription to one sentinel; its goroutine removes it from
// entry.subs when it ends by itself.
type subscription struct {
	cancel context.CancelFunc
}

// syncSubscriptions keeps one subscription per sentinel of t that answered the pass (o) and
// stops the others. A sentinel that did not answer gets none: no goroutine per silent pod
// retrying its dial; the next pass that reaches it subscribes.
func (p *Pool) syncSubscriptions(e *entry, t hooks.Topology, o decision.Snapshot) {
	want := map[string]bool{}
	if t.SentinelsEnabled {
		for _, s := range o.Sentinels {
			if s.Pod.IP != "" && s.Reachable() {
				want[sentinelAddr(t, s.Pod)] = true
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopSubscriptions(e, want)
	if p.ctx == nil || p.ctx.Err() != nil {
		return
	}
	for addr := range want {
		if _, ok := e.subs[addr]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(p.ctx)
		sub := &subscription{cancel: cancel}
		e.subs[addr] = sub
		p.subs.Go(func() {
			p.subscribe(ctx, e, addr)
			p.endSubscription(e, addr, sub)
		})
	}
}

// endSubscription forgets sub when it is still the subscription of addr, so that the next pass
// that reaches the sentinel subscribes again.
func (p *Pool) endSubscription(e *entry, addr string, sub *subscription) {
	sub.cancel()
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.subs[addr] == sub {
		delete(e.subs, addr)
	}
}

// stopSubscriptions cancels the subscriptions whose address is not in keep. Caller holds p.mu.
func (p *Pool) stopSubscriptions(e *entry, keep map[string]bool) {
	for addr, sub := range e.subs {
		if !keep[addr] {
			sub.cancel()
			delete(e.subs, addr)
		}
	}
}

// subscribe listens to one sentinel's events until ctx is cancelled, reconnecting with backoff
// after a subscription broke. It returns when the sentinel cannot be dialled: a silent sentinel
// is left to the passes, which back off.
func (p *Pool) subscribe(ctx context.Context, e *entry, addr string) {
	for fails := 0; ctx.Err() == nil; {
		p.mu.Lock()
		password := e.topo.SentinelPassword
		p.mu.Unlock()
		began := time.Now()
		client, err := e.conns.get(addr, password)
		if err != nil {
			e.log.Debug().Err(err).Str("sentinel", addr).Msg("sentinel unreachable; no subscription until a pass reaches it")
			return
		}
		err = client.Receive(ctx, client.B().Subscribe().Channel(sentinelEvents...).Build(),
			func(m rueidis.PubSubMessage) { p.event(e, addr, m) })
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > p.cfg.MaxBackoff {
			fails = 0 // it worked for a while: start the backoff over
		}
		fails++
		p.metrics.errors.WithLabelValues(errSubscribe).Inc()
		e.log.Debug().Err(err).Str("sentinel", addr).Msg("sentinel subscription broken; retrying")
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff(p.cfg.MinBackoff, p.cfg.MaxBackoff, fails)):
		}
	}
}

// event records a Sentinel event and asks for a pass at once.
func (p *Pool) event(e *entry, addr string, m rueidis.PubSubMessage) {
	p.mu.Lock()
	if m.Channel == "+switch-master" {
		if to, ok := failoverTarget(e.topo, m.Message); ok && to != e.lastSwitch {
			e.lastSwitch = to
			p.metrics.failovers.Inc()
			e.log.Info().Str("sentinel", addr).Str("switch", m.Message).Msg("sentinel failover observed")
		}
	}
	now := time.Now()
	if m.Channel == "+failover-state-wait-promotion" {
		e.promotionUntil = now.Add(promotionWindow)
	}
	p.wakeUp(e, now)
	p.mu.Unlock()
	p.signal()
}

// A pass that a promotion's announcement started may read the replica before it executed
// Sentinel's REPLICAOF NO ONE (Sentinel publishes the event before its command reaches the
// replica, which also rewrites its config file first): passes then follow each other every
// promotionPoll for up to promotionWindow, until one reports the promoted replica.
const (
	promotionPoll   = 50 * time.Millisecond
	promotionWindow = 2 * time.Second
)

// failoverTarget reads a +switch-master message ("<name> <old ip> <old port> <new ip> <new
// port>") and returns the new master's address when the old one is a redis pod of t: one
// failover, which every sentinel announces, is counted once (by its new master), and a sentinel
// that restarted monitoring another address and catches up is no failover.
func failoverTarget(t hooks.Topology, msg string) (string, bool) {
	f := strings.Fields(msg)
	if len(f) != 5 || f[0] != t.MasterName || f[2] != strconv.Itoa(int(t.RedisPort)) {
		return "", false
	}
	for _, pod := range t.Redis {
		if pod.IP == f[1] {
			return net.JoinHostPort(f[3], f[4]), true
		}
	}
	return "", false
}
