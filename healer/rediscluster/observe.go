package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// observe reads every pod of t at once, each within the command timeout. A pod that does not
// answer is recorded with its error: healing goes on with the others.
func observe(ctx context.Context, t Topology, c *conns, timeout time.Duration) Snapshot {
	s := Snapshot{Time: time.Now(), Nodes: make([]NodeState, len(t.Nodes))}
	var wg sync.WaitGroup
	for i, n := range t.Nodes {
		wg.Go(func() { s.Nodes[i] = observeNode(ctx, t, c, n, timeout) })
	}
	wg.Wait()
	return s
}

func observeNode(ctx context.Context, t Topology, c *conns, n Node, timeout time.Duration) NodeState {
	st := NodeState{Node: n}
	if n.IP == "" {
		st.Err = "pod has no IP"
		return st
	}
	client, err := c.get(n.Addr(), t.Password)
	if err != nil {
		st.Err = err.Error()
		return st
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res := client.DoMulti(ctx,
		client.B().ClusterMyid().Build(),
		client.B().ClusterNodes().Build(),
		client.B().ClusterInfo().Build(),
		client.B().Info().Section("replication").Build(),
		client.B().Dbsize().Build())
	if err := readNode(&st, res); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			c.drop(n.Addr())
		}
		return NodeState{Node: n, Err: fmt.Sprintf("read %s: %v", n.Addr(), err)}
	}
	return st
}

func readNode(st *NodeState, res []rueidis.RedisResult) error {
	var err error
	if st.ID, err = res[0].ToString(); err != nil {
		return fmt.Errorf("cluster myid: %w", err)
	}
	text, err := res[1].ToString()
	if err != nil {
		return fmt.Errorf("cluster nodes: %w", err)
	}
	if st.View, err = ParseClusterNodes(text); err != nil {
		return err
	}
	if text, err = res[2].ToString(); err != nil {
		return fmt.Errorf("cluster info: %w", err)
	}
	if st.Info, err = ParseClusterInfo(text); err != nil {
		return err
	}
	if text, err = res[3].ToString(); err != nil {
		return fmt.Errorf("info replication: %w", err)
	}
	if st.Repl, err = ParseReplication(text); err != nil {
		return err
	}
	if st.Keys, err = res[4].AsInt64(); err != nil {
		return fmt.Errorf("dbsize: %w", err)
	}
	return nil
}
