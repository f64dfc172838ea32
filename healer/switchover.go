package healer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
)

// Bounds of rule 14's planned switchover (decision/switchover.go).
const (
	// switchoverCatchUp bounds the wait for the target to hold every write of the paused master.
	switchoverCatchUp = 3 * time.Second
	// switchoverPromotion bounds the wait for Sentinel to promote the target.
	switchoverPromotion = 5 * time.Second
	// switchoverPause is the CLIENT PAUSE timeout: it outlasts both waits, so the master stays
	// paused until it is a replica (an explicit CLIENT UNPAUSE ends it sooner on every path).
	switchoverPause = switchoverCatchUp + switchoverPromotion + 2*time.Second
	// switchoverPoll is how often the waits read the target.
	switchoverPoll = 20 * time.Millisecond
)

var errNotPromoted = errors.New("not promoted by Sentinel")

// switchover carries out a planned switchover: pause writes on the master, wait until the target
// holds every write, SENTINEL FAILOVER, make the old master a replica of the target as soon as it
// is master, unpause. The paused clients then get READONLY and retry on the new master; nothing
// the master acknowledged is lost. Any failure before the failover is asked aborts cleanly
// (unpaused, no failover).
func switchover(ctx context.Context, t hooks.Topology, c *conns, a decision.Switchover) error {
	client := func(r request) (rueidis.Client, string, error) {
		addr, err := r.addr(t)
		if err != nil {
			return nil, "", err
		}
		password := t.Password
		if r.sentinel {
			password = t.SentinelPassword
		}
		cl, err := c.get(addr, password)
		return cl, addr, err
	}
	master, _, err := client(request{pod: a.Master})
	if err != nil {
		return err
	}
	target, targetAddr, err := client(request{pod: a.Target})
	if err != nil {
		return err
	}
	sentinel, _, err := client(request{pod: a.Sentinel, sentinel: true})
	if err != nil {
		return err
	}
	do := func(cl rueidis.Client, args ...string) rueidis.RedisResult {
		cctx, cancel := context.WithTimeout(ctx, c.commandTimeout)
		defer cancel()
		return cl.Do(cctx, cl.B().Arbitrary(args...).Build())
	}
	if err := do(master, "CLIENT", "PAUSE", strconv.FormatInt(switchoverPause.Milliseconds(), 10), "WRITE").Error(); err != nil {
		return fmt.Errorf("pause writes on %s: %w", a.Master, err)
	}
	defer func() {
		// Also when ctx ended: a master left paused would refuse writes for seconds.
		uctx, cancel := context.WithTimeout(context.Background(), c.commandTimeout)
		defer cancel()
		_ = master.Do(uctx, master.B().Arbitrary("CLIENT", "UNPAUSE").Build()).Error()
	}()
	offset := func(cl rueidis.Client) (decision.RedisInfo, error) {
		text, err := do(cl, "INFO", "replication").ToString()
		if err != nil {
			return decision.RedisInfo{}, err
		}
		return decision.ParseRedisInfo(text)
	}
	m, err := offset(master)
	if err != nil {
		return fmt.Errorf("read %s: %w", a.Master, err)
	}
	if m.Role != hooks.RoleMaster {
		return fmt.Errorf("%s is no longer master", a.Master)
	}
	if err := waitFor(ctx, switchoverCatchUp, func() (bool, error) {
		r, err := offset(target)
		return err == nil && r.Role == hooks.RoleReplica && r.Offset >= m.Offset, nil
	}); err != nil {
		return fmt.Errorf("%s did not reach the paused master's offset %d within %v: no failover", a.Target, m.Offset, switchoverCatchUp)
	}
	if err := do(sentinel, "SENTINEL", "FAILOVER", t.MasterName).Error(); err != nil {
		return fmt.Errorf("SENTINEL FAILOVER on %s: %w", a.Sentinel, err)
	}
	if err := waitFor(ctx, switchoverPromotion, func() (bool, error) {
		r, err := offset(target)
		return err == nil && r.Role == hooks.RoleMaster, nil
	}); err != nil {
		return fmt.Errorf("%s: %w within %v", a.Target, errNotPromoted, switchoverPromotion)
	}
	host, port, _ := net.SplitHostPort(targetAddr)
	if err := do(master, "REPLICAOF", host, port).Error(); err != nil {
		return fmt.Errorf("REPLICAOF %s on the old master %s: %w", a.Target, a.Master, err)
	}
	return nil
}

// waitFor polls cond every switchoverPoll until it holds, limit passes or ctx ends.
func waitFor(ctx context.Context, limit time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return context.DeadlineExceeded
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(switchoverPoll):
		}
	}
}
