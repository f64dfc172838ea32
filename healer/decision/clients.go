package decision

import (
	"fmt"
	"sort"
	"strings"

	"github.com/redhook/redhook/hooks"
)

// Rule 15: misdirected clients. A client that reached the master through the master Service keeps
// its connection when the node behind it stops being the master: after a failover, or when the
// master's process restarted and rejoined as a replica while the Service's endpoints still led to
// its pod. Every write it sends is then refused with READONLY, for as long as it keeps the
// connection (most clients reconnect only when the connection breaks). The healer closes the
// connections of a replica's clients whose last command was a write (or WAIT, which a replica
// refuses too), so that they reconnect and find the master. Clients that only read from the replica
// are left alone.

// CloseClients closes client connections of a redis node (CLIENT KILL ID …, one per client).
type CloseClients struct {
	Pod string
	IDs []int64
	// Cmds are the distinct last commands of the closed clients, for the log.
	Cmds []string
	Why  string
}

func (a CloseClients) String() string {
	return fmt.Sprintf("close %d clients of %s (last command %s)", len(a.IDs), a.Pod, strings.Join(a.Cmds, ", "))
}
func (a CloseClients) Reason() string { return a.Why }
func (a CloseClients) Kind() string   { return "close-clients" }

// closeMisdirected returns one CloseClients per replica holding clients that write to it. A
// replica that the pass's other actions promote (or switch over to), or that a sentinel's
// failover promotes, is left alone: its clients' writes are about to succeed, and a connection
// closed in the middle of a write leaves the client unsure whether it ran (a retried INCR counts
// twice).
func (v *view) closeMisdirected(acts []Action) []Action {
	promoted := map[string]bool{}
	for _, a := range acts {
		switch a := a.(type) {
		case Promote:
			promoted[a.Pod] = true
		case Switchover:
			promoted[a.Target] = true
		}
	}
	var out []Action
	for i := range v.o.Redis {
		n := &v.o.Redis[i]
		if !n.Reachable() || n.Info.Role != hooks.RoleReplica || promoted[n.Pod.Name] || v.promotedBySentinel(n) {
			continue
		}
		var ids []int64
		cmds := map[string]bool{}
		for _, c := range n.Clients {
			if writes(c) {
				ids = append(ids, c.ID)
				cmds[c.Cmd] = true
			}
		}
		if len(ids) == 0 {
			continue
		}
		names := make([]string, 0, len(cmds))
		for c := range cmds {
			names = append(names, c)
		}
		sort.Strings(names)
		out = append(out, CloseClients{Pod: n.Pod.Name, IDs: ids, Cmds: names,
			Why: "clients write to a replica (READONLY): they reconnect to find the master"})
	}
	return out
}

// promotedBySentinel tells whether a sentinel's failover promotes n.
func (v *view) promotedBySentinel(n *RedisNode) bool {
	for i := range v.o.Sentinels {
		if v.promotedBy(&v.o.Sentinels[i]) == n {
			return true
		}
	}
	return false
}

// writes tells whether c's last command is one a replica refuses.
func writes(c Client) bool {
	return c.Write || c.Cmd == "wait" || c.Cmd == "waitaof"
}
