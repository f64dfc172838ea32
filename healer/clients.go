package healer

import (
	"context"
	"fmt"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
)

// writeWatch finds the clients that write to a replica (decision/clients.go) without listing
// every replica's clients on every pass: a replica's clients are listed only when its count of
// READONLY refusals grew since the pass before. Only the entry's pass uses it, one pass at a
// time: no lock.
type writeWatch struct {
	// refused is each replica address's READONLY count at the last pass.
	refused map[string]int64
	// writeCmds are the write commands of the servers (COMMAND LIST FILTERBY ACLCAT write),
	// read once; nil until read.
	writeCmds map[string]bool
}

// listMisdirected lists the normal clients of every replica of o whose READONLY count grew,
// into o.Redis[i].Clients, and remembers the counts for the next pass. It returns the reads
// that failed; those replicas are listed again on the next pass.
func (w *writeWatch) listMisdirected(ctx context.Context, t hooks.Topology, c *conns, o *decision.Snapshot) (errs []error) {
	last := w.refused
	w.refused = make(map[string]int64, len(o.Redis))
	for i := range o.Redis {
		n := &o.Redis[i]
		if !n.Reachable() || n.Info.Role != hooks.RoleReplica {
			continue
		}
		addr := redisAddr(t, n.Pod)
		w.refused[addr] = n.Info.RefusedWrites
		if n.Info.RefusedWrites <= last[addr] {
			continue // none refused since; a restart resets the count to 0
		}
		clients, err := w.clients(ctx, t, c, addr)
		if err != nil {
			delete(w.refused, addr)
			errs = append(errs, err)
			continue
		}
		n.Clients = clients
	}
	return errs
}

// clients reads CLIENT LIST TYPE normal at addr and marks the clients whose last command writes.
func (w *writeWatch) clients(ctx context.Context, t hooks.Topology, c *conns, addr string) ([]decision.Client, error) {
	client, err := c.get(addr, t.Password)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.commandTimeout)
	defer cancel()
	if w.writeCmds == nil {
		if w.writeCmds, err = writeCommands(ctx, client); err != nil {
			return nil, err
		}
	}
	text, err := client.Do(ctx, client.B().ClientList().TypeNormal().Build()).ToString()
	if err != nil {
		return nil, fmt.Errorf("client list %s: %w", addr, err)
	}
	list, err := decision.ParseClientList(text)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].Write = w.writeCmds[list[i].Cmd]
	}
	return list, nil
}

// writeCommands asks the server which commands write (with their subcommands, "xgroup|create").
func writeCommands(ctx context.Context, client rueidis.Client) (map[string]bool, error) {
	names, err := client.Do(ctx, client.B().Arbitrary("COMMAND", "LIST", "FILTERBY", "ACLCAT", "write").Build()).AsStrSlice()
	if err != nil {
		return nil, fmt.Errorf("command list: %w", err)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}
