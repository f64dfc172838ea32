package healer

import (
	"context"
	"fmt"
	"time"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/redis/rueidis"
)

// writeWatch finds the clients that write to a replica (decision/clients.go) without listing
// every replica's clients on every pass: only a replica that was the master within
// misdirectedWindow (clients of the master Service may still reach it) and whose count of
// READONLY refusals grew since the pass before has its clients listed. Clients that write to a
// node that has long been a replica (an application sending writes to the replicas' Service)
// are the application's to fix: closing them would only make them reconnect, forever. Only the
// entry's pass uses it, one pass at a time: no lock.
type writeWatch struct {
	// refused is each replica's READONLY count at the last pass, by address and run id (a
	// restart resets the count).
	refused map[string]int64
	// master is when each address last answered as master.
	master map[string]time.Time
	// writeCmds are the write commands of the servers (COMMAND LIST FILTERBY ACLCAT write),
	// read once; nil until read.
	writeCmds map[string]bool
}

// misdirectedWindow is how long after a node stopped being the master its writing clients are
// closed: the master Service's endpoints follow the master within seconds.
const misdirectedWindow = time.Minute

// listMisdirected lists the normal clients of every replica of o that was the master within
// misdirectedWindow and whose READONLY count grew, into o.Redis[i].Clients, and remembers the
// counts for the next pass. It returns the reads that failed; those replicas are listed again
// on the next pass.
func (w *writeWatch) listMisdirected(ctx context.Context, t hooks.Topology, c *conns, o *decision.Snapshot) (errs []error) {
	last := w.refused
	w.refused = make(map[string]int64, len(o.Redis))
	if w.master == nil {
		w.master = map[string]time.Time{}
	}
	for i := range o.Redis {
		n := &o.Redis[i]
		if !n.Reachable() {
			continue
		}
		addr := redisAddr(t, n.Pod)
		if n.Info.Role == hooks.RoleMaster {
			w.master[addr] = o.Time
			continue
		}
		if o.Time.Sub(w.master[addr]) > misdirectedWindow {
			delete(w.master, addr)
			continue
		}
		key := addr + " " + n.Info.RunID
		w.refused[key] = n.Info.RefusedWrites
		if n.Info.RefusedWrites <= last[key] {
			continue // none refused since
		}
		clients, err := w.clients(ctx, t, c, addr)
		if err != nil {
			delete(w.refused, key)
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
