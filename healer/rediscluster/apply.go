package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// errSkipped marks an action not sent because an earlier slot move of the pass failed or ran
// out of time.
var errSkipped = errors.New("skipped: an earlier slot move of this pass did not finish")

// outcome is one action as applied.
type outcome struct {
	Action Action
	Err    error
	// Moved counts what a MoveSlots moved, even when it stopped early.
	Moved moveStats
}

// applier sends the actions of one pass.
type applier struct {
	t       Topology
	c       *conns
	timeout time.Duration // one command
	mig     migrateConfig
	// deadline ends the slot moves of the pass (the rest is done by the next pass).
	deadline time.Time
	// masters are the addresses of every master that answered, for SETSLOT NODE.
	masters []string
}

// apply runs the actions in order. Meets, slot assignments, replicas and forgets are one
// command each and independent: one failing does not stop the others. Slot moves run one slot
// at a time; after one fails or the pass's time is up, the later moves wait for the next pass.
func (a *applier) apply(ctx context.Context, acts []Action) []outcome {
	out := make([]outcome, 0, len(acts))
	moveStopped := false
	for _, act := range acts {
		var err error
		var st moveStats
		switch x := act.(type) {
		case MoveSlots:
			if moveStopped {
				err = errSkipped
				break
			}
			st, err = a.move(ctx, x)
			if err != nil {
				moveStopped = true
			}
		default:
			err = a.send(ctx, act)
		}
		if err != nil {
			// No error text leaves apply with the password in it (MIGRATE's AUTH2).
			err = redactErr(fmt.Errorf("%s: %w", act, err), a.t.Password)
		}
		out = append(out, outcome{Action: act, Err: err, Moved: st})
	}
	return out
}

// args is the command of a one-command action.
func args(act Action) ([]string, error) {
	switch x := act.(type) {
	case Meet:
		return []string{"CLUSTER", "MEET", x.IP, strconv.Itoa(x.Port)}, nil
	case AddSlots:
		cmd := []string{"CLUSTER", "ADDSLOTSRANGE"}
		for _, r := range x.Slots {
			cmd = append(cmd, strconv.Itoa(r.Start), strconv.Itoa(r.End))
		}
		return cmd, nil
	case Replicate:
		return []string{"CLUSTER", "REPLICATE", x.MasterID}, nil
	case Forget:
		return []string{"CLUSTER", "FORGET", x.NodeID}, nil
	case Failover:
		return []string{"CLUSTER", "FAILOVER"}, nil
	case Reset:
		return []string{"CLUSTER", "RESET", "SOFT"}, nil
	}
	return nil, fmt.Errorf("unknown action %T", act)
}

// addrOf is the address of pod in the topology.
func (a *applier) addrOf(pod string) (string, error) {
	for _, n := range a.t.Nodes {
		if n.Pod == pod && n.IP != "" {
			return n.Addr(), nil
		}
	}
	return "", fmt.Errorf("%s: pod not in topology or without IP", pod)
}

func (a *applier) send(ctx context.Context, act Action) error {
	cmd, err := args(act)
	if err != nil {
		return err
	}
	addr, err := a.addrOf(act.On())
	if err != nil {
		return err
	}
	err = a.do(ctx, addr, cmd...)
	if _, ok := act.(Forget); ok && err != nil && strings.Contains(err.Error(), "Unknown node") {
		return nil // forgotten meanwhile (gossip of a peer's FORGET, Redis ≥ 7.2)
	}
	return err
}

// do sends one command to addr within the command timeout.
func (a *applier) do(ctx context.Context, addr string, cmd ...string) error {
	_, err := a.result(ctx, addr, a.timeout, cmd...)
	return err
}

func (a *applier) result(ctx context.Context, addr string, timeout time.Duration, cmd ...string) (rueidis.RedisMessage, error) {
	client, err := a.c.get(addr, a.t.Password)
	if err != nil {
		return rueidis.RedisMessage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := client.Do(ctx, client.B().Arbitrary(cmd[0]).Args(cmd[1:]...).Build()).ToMessage()
	if errors.Is(err, context.DeadlineExceeded) {
		a.c.drop(addr)
	}
	return msg, err
}
