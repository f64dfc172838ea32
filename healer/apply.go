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

// apply runs the actions in order, each with its own deadline. An action whose prerequisite
// failed is skipped (replicas are not pointed at a master whose promotion failed; a sentinel
// is not configured after its MONITOR failed); the others still run, so one dead pod does not
// stop the healing of the rest.
func apply(ctx context.Context, t hooks.Topology, c *conns, acts []decision.Action) []outcome {
	out := make([]outcome, 0, len(acts))
	failedMaster := map[string]bool{}   // pods whose promotion failed
	failedSentinel := map[string]bool{} // sentinels whose remove or monitor failed
	for _, a := range acts {
		var err error
		switch a := a.(type) {
		case decision.ReplicaOf:
			if a.MasterPod != "" && failedMaster[a.MasterPod] {
				err = errSkipped
			}
		case decision.Monitor:
			if failedSentinel[a.Sentinel] || a.MasterPod != "" && failedMaster[a.MasterPod] {
				err = errSkipped
			}
		case decision.SentinelSet:
			if failedSentinel[a.Sentinel] {
				err = errSkipped
			}
		}
		if _, wait := a.(decision.Wait); err == nil && !wait {
			err = applyOne(ctx, t, c, a)
		}
		if err != nil {
			switch a := a.(type) {
			case decision.Promote:
				failedMaster[a.Pod] = true
			case decision.Remove:
				failedSentinel[a.Sentinel] = true
			case decision.Monitor:
				failedSentinel[a.Sentinel] = true
			}
			err = fmt.Errorf("%s: %w", a, err)
		}
		out = append(out, outcome{Action: a, Err: err})
	}
	return out
}

func applyOne(ctx context.Context, t hooks.Topology, c *conns, a decision.Action) error {
	addr, err := target(t, a)
	if err != nil {
		return err
	}
	client, err := c.get(addr, t.Password)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.commandTimeout)
	defer cancel()
	err = client.Do(ctx, command(client, t, a)).Error()
	if errors.Is(err, context.DeadlineExceeded) {
		c.drop(addr)
	}
	return err
}

// target is the address an action is sent to.
func target(t hooks.Topology, a decision.Action) (string, error) {
	var pod string
	var pods []hooks.PodRef
	var port int32
	switch a := a.(type) {
	case decision.ReplicaOf:
		pod, pods, port = a.Pod, t.Redis, t.RedisPort
	case decision.Promote:
		pod, pods, port = a.Pod, t.Redis, t.RedisPort
	case decision.SetConfig:
		pod, pods, port = a.Pod, t.Redis, t.RedisPort
	case decision.Priority:
		pod, pods, port = a.Pod, t.Redis, t.RedisPort
	case decision.SentinelDebug:
		pod, pods, port = a.Sentinel, t.Sentinels, t.SentinelPort
	case decision.Remove:
		pod, pods, port = a.Sentinel, t.Sentinels, t.SentinelPort
	case decision.Monitor:
		pod, pods, port = a.Sentinel, t.Sentinels, t.SentinelPort
	case decision.SentinelSet:
		pod, pods, port = a.Sentinel, t.Sentinels, t.SentinelPort
	case decision.Reset:
		pod, pods, port = a.Sentinel, t.Sentinels, t.SentinelPort
	case decision.Failover:
		pod, pods, port = a.Sentinel, t.Sentinels, t.SentinelPort
	default:
		return "", fmt.Errorf("unknown action %T", a)
	}
	for _, p := range pods {
		if p.Name == pod && p.IP != "" {
			return hooks.Endpoint{Host: p.IP, Port: port}.Address(), nil
		}
	}
	return "", fmt.Errorf("%s: %w", pod, errUnknownPod)
}

// command builds the Redis command of an action. The password is read here, from the topology,
// and nowhere else.
func command(client rueidis.Client, t hooks.Topology, a decision.Action) rueidis.Completed {
	b := client.B()
	name := t.MasterName
	switch a := a.(type) {
	case decision.ReplicaOf:
		return b.Replicaof().Host(a.Master.Host).Port(int64(a.Master.Port)).Build()
	case decision.Promote:
		return b.Replicaof().No().One().Build()
	case decision.SetConfig:
		return b.ConfigSet().ParameterValue().ParameterValue(a.Key, a.Value).Build()
	case decision.Priority:
		return b.ConfigSet().ParameterValue().ParameterValue(decision.ReplicaPriorityKey, a.Value).Build()
	case decision.SentinelDebug:
		return b.Arbitrary("SENTINEL", "DEBUG").Args(a.Key, strconv.FormatInt(a.Millis, 10)).Build()
	case decision.Remove:
		return b.Arbitrary("SENTINEL", "REMOVE").Args(name).Build()
	case decision.Monitor:
		return b.Arbitrary("SENTINEL", "MONITOR").Args(name, a.Master.Host,
			strconv.Itoa(int(a.Master.Port)), strconv.Itoa(int(a.Quorum))).Build()
	case decision.SentinelSet:
		v := a.Value
		if a.Password {
			v = t.Password.Value()
		}
		return b.Arbitrary("SENTINEL", "SET").Args(name, a.Key, v).Build()
	case decision.Reset:
		return b.Arbitrary("SENTINEL", "RESET").Args(name).Build()
	case decision.Failover:
		return b.SentinelFailover().Master(name).Build()
	}
	panic(fmt.Sprintf("healer: no command for %T", a)) // target rejected it already
}
