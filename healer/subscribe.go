package healer

import (
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
)

// sentinelEvents are the Sentinel channels that make the pool re-check at once: a failover
// happened or ended, or an instance went down or came back.
// See https://redis.io/docs/latest/operate/oss_and_stack/management/sentinel/#pubsub-messages
var sentinelEvents = []string{"+switch-master", "+sdown", "-sdown", "+odown", "-odown", "+failover-end",
	"+failover-end-for-timeout", "+reboot"}

// syncSubscriptions keeps one subscription per sentinel address of t and stops the others.
func (p *Pool) syncSubscriptions(e *entry, t hooks.Topology) {
	want := map[string]bool{}
	if t.SentinelsEnabled {
		for _, s := range t.Sentinels {
			if s.IP != "" {
				want[sentinelAddr(t, s)] = true
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
		e.subs[addr] = cancel
		p.subs.Go(func() { p.subscribe(ctx, e, addr) })
	}
}

// stopSubscriptions cancels the subscriptions whose address is not in keep. Caller holds p.mu.
func (p *Pool) stopSubscriptions(e *entry, keep map[string]bool) {
	for addr, cancel := range e.subs {
		if !keep[addr] {
			cancel()
			delete(e.subs, addr)
		}
	}
}

// subscribe listens to one sentinel's events until ctx is cancelled, reconnecting with backoff.
func (p *Pool) subscribe(ctx context.Context, e *entry, addr string) {
	for fails := 0; ctx.Err() == nil; {
		p.mu.Lock()
		password := e.topo.SentinelPassword
		p.mu.Unlock()
		began := time.Now()
		err := p.receive(ctx, e, addr, password)
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

// receive subscribes on the shared client of addr (RESP3 carries pushes on the same
// connection) and returns when the subscription ends.
func (p *Pool) receive(ctx context.Context, e *entry, addr string, password hooks.Secret) error {
	client, err := e.conns.get(addr, password)
	if err != nil {
		return err
	}
	return client.Receive(ctx, client.B().Subscribe().Channel(sentinelEvents...).Build(),
		func(m rueidis.PubSubMessage) { p.event(e, addr, m) })
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
	p.recheck(e, time.Now())
	p.mu.Unlock()
	p.signal()
}

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
