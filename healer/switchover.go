package healer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	// switchoverPause is the CLIENT PAUSE timeout: it outlasts both waits and the commands
	// around them, so the master stays paused until it is a replica. CLIENT UNPAUSE ends it
	// sooner when the node is a replica, or when no failover was asked and none runs; once a
	// failover may be under way the pause is left to expire (a master taking writes beside a
	// promoted replica loses them).
	switchoverPause = 20 * time.Second
	// switchoverPoll is how often the waits read the target.
	switchoverPoll = 20 * time.Millisecond
	// promotionReadTimeout bounds each read of the promotion wait (promotionRead).
	promotionReadTimeout = 5 * switchoverPoll
	// switchoverClaim bounds the claim of the hand-over (claimHandOver): a master whose writes
	// stay paused that long was paused by someone else.
	switchoverClaim = 200 * time.Millisecond
	// handOverChannel is the channel of the claim's PUBLISH (nobody listens to it).
	handOverChannel = "__redhook__:handover"
)

var (
	errNotPromoted = errors.New("not promoted by Sentinel")
	// errPausedAlready: the claim found the master's writes paused already, by its preStop hook
	// handing over (or by a pause of an earlier switchover, which ends within 20 s).
	errPausedAlready = errors.New("its writes are paused already (its preStop hook hands over): left to it")
)

// claimHandOver pauses the writes of the master at addr unless they are paused already: one
// transaction of PUBLISH (a write for CLIENT PAUSE, which Redis holds back while the writes are
// paused, in a transaction too) and CLIENT PAUSE. The preStop hook of the master's pod claims
// the same way before its own hand-over: whoever's transaction runs first hands over, and the
// other does not — two SENTINEL FAILOVER sent to two sentinels (the hook reaches one through the
// sentinel Service) would promote two replicas. Only the PUBLISH waits for a pause: when its
// QUEUED does not come within switchoverClaim, the claim gives up and closes its connection,
// which drops the transaction before its EXEC was sent. The other replies get the command
// timeout. The claim runs on a connection of its own, closed when it returns.
func claimHandOver(ctx context.Context, addr, password string, dial, command time.Duration) error {
	c, err := dialRESP(ctx, addr, password, dial)
	if err != nil {
		return err
	}
	defer c.close()
	if _, err := c.do(time.Now().Add(command), "MULTI"); err != nil {
		return err
	}
	_, err = c.do(time.Now().Add(switchoverClaim), "PUBLISH", handOverChannel, addr)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return errPausedAlready
	case err != nil:
		return err
	}
	if _, err := c.do(time.Now().Add(command), "CLIENT", "PAUSE", strconv.FormatInt(switchoverPause.Milliseconds(), 10), "WRITE"); err != nil {
		return err
	}
	v, err := c.do(time.Now().Add(command), "EXEC")
	if err != nil {
		return err
	}
	if r, ok := v.([]any); !ok || len(r) != 2 || r[1] != "OK" {
		return fmt.Errorf("CLIENT PAUSE in the claim: %v", v)
	}
	return nil
}

// switchover carries out a planned switchover: pause writes on the master (claimHandOver), wait until the target
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
	master, masterAddr, err := client(request{pod: a.Master})
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
	pause := func() error {
		return do(master, "CLIENT", "PAUSE", strconv.FormatInt(switchoverPause.Milliseconds(), 10), "WRITE").Error()
	}
	if a.Terminating {
		// Its preStop hook may be handing over too.
		pause = func() error {
			return claimHandOver(ctx, masterAddr, t.Password.Value(), c.dialTimeout, c.commandTimeout)
		}
	}
	if err := pause(); err != nil {
		return fmt.Errorf("pause writes on %s: %w", a.Master, err)
	}
	unpause := func() {
		// Also when ctx ended: a master left paused would refuse writes for seconds.
		uctx, cancel := context.WithTimeout(context.Background(), c.commandTimeout)
		defer cancel()
		_ = master.Do(uctx, master.B().Arbitrary("CLIENT", "UNPAUSE").Build()).Error()
	}
	info := func(cl rueidis.Client) (decision.RedisInfo, error) {
		text, err := do(cl, "INFO", "replication").ToString()
		if err != nil {
			return decision.RedisInfo{}, err
		}
		return decision.ParseRedisInfo(text)
	}
	// quiet tells whether the sentinel names the old master and runs no failover: only then may
	// an abort before the failover unpause (the pause holds Sentinel's hello messages, and a
	// sentinel may have taken the master for down and be failing over by itself).
	quiet := func() bool {
		v, err := do(sentinel, "SENTINEL", "MASTER", t.MasterName).ToAny()
		if err != nil {
			return false
		}
		sm, err := decision.ParseSentinelMaster(v)
		return err == nil && sm.IP+":"+strconv.Itoa(int(sm.Port)) == masterAddr &&
			!sm.FailoverInProgress() && !sm.HasFlag("s_down") && !sm.HasFlag("o_down")
	}
	abort := func(err error) error {
		// A terminating master's preStop hook waits in its claim meanwhile: once unpaused, it
		// hands over itself.
		if quiet() {
			unpause()
			return fmt.Errorf("%w: no failover, writes resumed", err)
		}
		return fmt.Errorf("%w; Sentinel may be failing over: the pause is left to expire", err)
	}
	m, err := info(master)
	if err != nil {
		return abort(fmt.Errorf("read %s: %w", a.Master, err))
	}
	if m.Role != hooks.RoleMaster {
		unpause() // a replica takes no writes
		return fmt.Errorf("%s is no longer master", a.Master)
	}
	var last string // what the target answered last, for the error
	promoted := false
	if err := waitFor(ctx, switchoverCatchUp, func() (bool, error) {
		r, err := info(target)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("%s at offset %d", r.Role, r.Offset)
		// Master already: a failover under way (Sentinel's own) promoted it meanwhile.
		promoted = r.Role == hooks.RoleMaster
		return promoted || r.Role == hooks.RoleReplica && r.Offset >= m.Offset, nil
	}); err != nil {
		return abort(fmt.Errorf("%s did not reach the paused master's offset %d within %v (last: %s)", a.Target, m.Offset, switchoverCatchUp, last))
	}
	if !promoted {
		if err := do(sentinel, "SENTINEL", "FAILOVER", t.MasterName).Error(); err != nil && !strings.Contains(err.Error(), "INPROG") {
			return abort(fmt.Errorf("SENTINEL FAILOVER on %s: %w", a.Sentinel, err))
		}
	}
	// INPROG, or the target promoted already: a failover of this master is under way (Sentinel's
	// own, or one a preStop hook without the claim asked for); with the writes paused, it is
	// followed as ours would be.
	// The new master: the target once it reports role:master; else another replica of the old
	// master that reports it continues the old master's history (Sentinel chose that one: it
	// names it only after its next INFO of it, up to a second later); else whatever other
	// address the sentinel names.
	others := otherReplicas(t, m, a.Master, a.Target)
	var newMaster string
	if err := waitFor(ctx, switchoverPromotion, func() (bool, error) {
		if r, err := promotionInfo(ctx, target); err == nil && r.Role == hooks.RoleMaster {
			newMaster = targetAddr
			return true, nil
		}
		if addr := promotedOther(ctx, client, others, m.ReplID); addr != "" {
			newMaster = addr
			return true, nil
		}
		if v, err := promotionRead(ctx, sentinel, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", t.MasterName).AsStrSlice(); err == nil && len(v) == 2 {
			if addr := net.JoinHostPort(v[0], v[1]); addr != masterAddr {
				newMaster = addr
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("%s: %w within %v; the pause is left to expire", a.Target, errNotPromoted, switchoverPromotion)
	}
	host, port, _ := net.SplitHostPort(newMaster)
	if err := do(master, "REPLICAOF", host, port).Error(); err != nil {
		return fmt.Errorf("REPLICAOF %s on the old master %s: %w; the pause is left to expire", newMaster, a.Master, err)
	}
	unpause() // a replica now: the paused writes get READONLY
	followNewMaster(t, client, do, info, a.Master, masterAddr, newMaster)
	return nil
}

// promotionRead sends one command of the promotion wait: bounded by promotionReadTimeout, not
// by the command timeout (a node that hangs, a sentinel too, must not hold the paused writes a
// second per round), and sent once more, on a new connection, when the first found its
// connection closed: Sentinel ends every normal client of the replica it promotes.
func promotionRead(ctx context.Context, cl rueidis.Client, args ...string) rueidis.RedisResult {
	for try := 0; ; try++ {
		cctx, cancel := context.WithTimeout(ctx, promotionReadTimeout)
		res := cl.Do(cctx, cl.B().Arbitrary(args...).Build())
		cancel()
		if try > 0 || !connectionLost(res.Error()) {
			return res
		}
	}
}

// promotionInfo reads INFO replication with promotionRead.
func promotionInfo(ctx context.Context, cl rueidis.Client) (decision.RedisInfo, error) {
	text, err := promotionRead(ctx, cl, "INFO", "replication").ToString()
	if err != nil {
		return decision.RedisInfo{}, err
	}
	return decision.ParseRedisInfo(text)
}

// promotedOther returns the address of the pod of others that is master and continues the
// history replID (its master_replid2: it was promoted from a replica of that master), or "".
// They are read at once (promotionRead), so that one that hangs does not slow the wait down
// while the writes are paused.
func promotedOther(ctx context.Context, client func(request) (rueidis.Client, string, error), others []string, replID string) string {
	if replID == "" || len(others) == 0 {
		return ""
	}
	found := make(chan string, len(others))
	var wg sync.WaitGroup
	for _, pod := range others {
		wg.Go(func() {
			cl, addr, err := client(request{pod: pod})
			if err != nil {
				return
			}
			if r, err := promotionInfo(ctx, cl); err == nil && r.Role == hooks.RoleMaster && r.ReplID2 == replID {
				found <- addr
			}
		})
	}
	wg.Wait()
	close(found)
	return <-found
}

// otherReplicas are the pods of t, but master and target, that the master's INFO (m) lists as
// its replicas: those Sentinel may promote instead of the target.
func otherReplicas(t hooks.Topology, m decision.RedisInfo, master, target string) []string {
	var out []string
	for _, pod := range t.Redis {
		if pod.Name == master || pod.Name == target || pod.IP == "" {
			continue
		}
		if slices.ContainsFunc(m.Replicas, func(l decision.ReplicaLink) bool { return l.IP == pod.IP }) {
			out = append(out, pod.Name)
		}
	}
	return out
}

// followNewMaster makes the other replicas of the old master (at masterAddr) replicas of the new
// one, as Sentinel does only once it has read the new master as such (its INFO of a replica
// comes once a second during a failover). Meanwhile the new master would have no replica to
// acknowledge WAIT once the old master's process stops: its preStop hook shuts it down right
// after a hand-over. Best effort: Sentinel re-points whatever this misses.
func followNewMaster(t hooks.Topology, client func(request) (rueidis.Client, string, error),
	do func(rueidis.Client, ...string) rueidis.RedisResult, info func(rueidis.Client) (decision.RedisInfo, error),
	oldMaster, masterAddr, newMaster string) {
	host, port, _ := net.SplitHostPort(newMaster)
	for _, pod := range t.Redis {
		if pod.Name == oldMaster || pod.IP == "" {
			continue
		}
		cl, addr, err := client(request{pod: pod.Name})
		if err != nil || addr == newMaster {
			continue
		}
		r, err := info(cl)
		if err != nil || r.Role != hooks.RoleReplica || net.JoinHostPort(r.MasterHost, strconv.Itoa(int(r.MasterPort))) != masterAddr {
			continue
		}
		_ = do(cl, "REPLICAOF", host, port).Error()
	}
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
