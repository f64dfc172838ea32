package healer

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
)

// errUnknownPod is returned for an action on a pod the topology does not list with an IP.
var errUnknownPod = errors.New("pod not in topology or without IP")

// errSkipped marks an action not sent because one it depends on failed.
var errSkipped = errors.New("skipped: a preceding action failed")

// outcome is one action as applied.
type outcome struct {
	Action decision.Action
	Err    error
}

// request is how one action goes out: the pod it is sent to, the command, and how it depends
// on the actions before it. requestOf makes it; apply sends it.
type request struct {
	pod      string
	sentinel bool     // pod is a sentinel, else a redis pod
	args     []string // the command; nil when nothing is sent (Wait)
	// follows is the master pod the action points at: skipped when its promotion failed.
	follows string
	// promotes: a failure marks pod as a failed promotion.
	promotes bool
	// monitorStep (remove, monitor): a failure skips the later monitor steps of the sentinel.
	monitorStep bool
	// afterMonitor (monitor, set): skipped when an earlier monitor step of the sentinel failed.
	afterMonitor bool
	// switchover is rule 14's several steps (switchover.go) instead of one command.
	switchover *decision.Switchover
	// kill are the clients to close, one CLIENT KILL ID each, instead of args.
	kill []int64
}

// requestOf is the one place that knows how each action is sent. The password is read here,
// from the topology, and nowhere else.
func requestOf(t hooks.Topology, a decision.Action) (request, error) {
	name := t.MasterName
	redis := func(pod string, args ...string) request { return request{pod: pod, args: args} }
	sentinel := func(pod string, args ...string) request {
		return request{pod: pod, sentinel: true, args: append([]string{"SENTINEL"}, args...)}
	}
	switch a := a.(type) {
	case decision.ReplicaOf:
		r := redis(a.Pod, "REPLICAOF", a.Master.Host, decimal(a.Master.Port))
		r.follows = a.MasterPod
		return r, nil
	case decision.Promote:
		r := redis(a.Pod, "REPLICAOF", "NO", "ONE")
		r.promotes = true
		return r, nil
	case decision.ConfigSet:
		return redis(a.Pod, "CONFIG", "SET", a.Key, a.Value), nil
	case decision.ReplicaPriority:
		return redis(a.Pod, "CONFIG", "SET", decision.ReplicaPriorityKey, a.Value), nil
	case decision.SentinelRemove:
		r := sentinel(a.Sentinel, "REMOVE", name)
		r.monitorStep = true
		return r, nil
	case decision.SentinelMonitor:
		r := sentinel(a.Sentinel, "MONITOR", name, a.Master.Host, decimal(a.Master.Port), decimal(a.Quorum))
		r.follows, r.monitorStep, r.afterMonitor = a.MasterPod, true, true
		return r, nil
	case decision.SentinelSet:
		v := a.Value
		if a.Password {
			v = t.Password.Value()
		}
		r := sentinel(a.Sentinel, "SET", name, a.Key, v)
		r.afterMonitor = true
		return r, nil
	case decision.SentinelReset:
		return sentinel(a.Sentinel, "RESET", name), nil
	case decision.SentinelFailover:
		return sentinel(a.Sentinel, "FAILOVER", name), nil
	case decision.SentinelDebug:
		return sentinel(a.Sentinel, "DEBUG", a.Key, strconv.FormatInt(a.Millis, 10)), nil
	case decision.Switchover:
		return request{switchover: &a}, nil
	case decision.CloseClients:
		return request{pod: a.Pod, kill: a.IDs}, nil
	case decision.Wait:
		return request{}, nil
	}
	return request{}, fmt.Errorf("unknown action %T", a)
}

// decimal writes a port or a quorum as a command argument.
func decimal(n int32) string { return strconv.Itoa(int(n)) }

// addr is the address of the request's pod in t.
func (r request) addr(t hooks.Topology) (string, error) {
	pods, port := t.Redis, t.RedisPort
	if r.sentinel {
		pods, port = t.Sentinels, t.SentinelPort
	}
	for _, p := range pods {
		if p.Name == r.pod && p.IP != "" {
			return hooks.Endpoint{Host: p.IP, Port: port}.Address(), nil
		}
	}
	return "", fmt.Errorf("%s: %w", r.pod, errUnknownPod)
}

// apply runs the actions in order, each with its own deadline. An action whose prerequisite
// failed is skipped (replicas are not pointed at a master whose promotion failed; a sentinel
// is not configured after its MONITOR failed); the others still run, so one dead pod does not
// stop the healing of the rest.
func apply(ctx context.Context, t hooks.Topology, c *conns, acts []decision.Action) []outcome {
	out := make([]outcome, 0, len(acts))
	failedMaster := map[string]bool{}   // pods whose promotion failed
	failedSentinel := map[string]bool{} // sentinels whose remove or monitor failed
	for _, a := range acts {
		r, err := requestOf(t, a)
		switch {
		case r.switchover != nil:
			err = switchover(ctx, t, c, *r.switchover)
		case err != nil:
		case r.follows != "" && failedMaster[r.follows], r.afterMonitor && failedSentinel[r.pod]:
			err = errSkipped
		case r.args != nil, r.kill != nil:
			err = send(ctx, t, c, r)
		}
		if err != nil {
			if r.promotes {
				failedMaster[r.pod] = true
			}
			if r.monitorStep {
				failedSentinel[r.pod] = true
			}
			err = fmt.Errorf("%s: %w", a, err)
		}
		out = append(out, outcome{Action: a, Err: err})
	}
	return out
}

// send sends one request within the command timeout. A timeout drops the connection: a stuck
// one must not stall the next pass.
func send(ctx context.Context, t hooks.Topology, c *conns, r request) error {
	addr, err := r.addr(t)
	if err != nil {
		return err
	}
	password := t.Password
	if r.sentinel {
		password = t.SentinelPassword
	}
	client, err := c.get(addr, password)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.commandTimeout)
	defer cancel()
	if r.kill != nil {
		err = kill(ctx, client, r.kill)
	} else {
		err = client.Do(ctx, client.B().Arbitrary(r.args...).Build()).Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		c.drop(addr)
	}
	return err
}

// kill closes the clients ids (CLIENT KILL ID; a client gone already counts 0, no error),
// unless the node is no replica any more: promoted since it was read, it takes their writes.
func kill(ctx context.Context, client rueidis.Client, ids []int64) error {
	v, err := client.Do(ctx, client.B().Role().Build()).ToAny()
	if err != nil {
		return err
	}
	if role, err := decision.ParseRole(v); err != nil || role.Role != hooks.RoleReplica {
		return err
	}
	cmds := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		cmds[i] = client.B().ClientKill().Id(id).Build()
	}
	for _, res := range client.DoMulti(ctx, cmds...) {
		if err := res.Error(); err != nil {
			return err
		}
	}
	return nil
}
