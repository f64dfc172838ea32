package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// migrateConfig is how keys move.
type migrateConfig struct {
	// Batch is the number of keys per GETKEYSINSLOT and at most per MIGRATE.
	Batch int
	// MaxBytes bounds a MIGRATE by the keys' MEMORY USAGE (batchBytes when 0): MIGRATE
	// serializes and sends every key while the source serves nothing else.
	MaxBytes int64
	// Timeout is MIGRATE's own timeout (the longest the transfer may stall) and the deadline of
	// each MIGRATE command.
	Timeout time.Duration
}

// moveStats is what a slot move did.
type moveStats struct {
	Slots, Keys int64
	Took        time.Duration
}

// errOutOfTime stops the slot moves of a pass: the next pass goes on from the snapshot.
var errOutOfTime = errors.New("pass time for slot moves used up: the next pass goes on")

// move moves m's slots one at a time, in order; it stops at the first slot that fails, or
// before a slot when the pass's time is up.
func (a *applier) move(ctx context.Context, m MoveSlots) (st moveStats, err error) {
	start := time.Now()
	defer func() { st.Took = time.Since(start) }()
	src, err := a.addrOf(m.Source)
	if err != nil {
		return st, err
	}
	dst, err := a.addrOf(m.Target)
	if err != nil {
		return st, err
	}
	for _, slot := range m.Slots {
		if !a.deadline.IsZero() && time.Now().After(a.deadline) {
			return st, errOutOfTime
		}
		keys, err := a.migrateSlot(ctx, slot, src, m.SourceID, dst, m.TargetID)
		st.Keys += keys
		if err != nil {
			return st, fmt.Errorf("slot %d: %w", slot, err)
		}
		st.Slots++
	}
	return st, nil
}

// migrateSlot moves one slot from src (node srcID, the slot's current owner as the planner
// saw it) to dst (node dstID), in the order Redis documents for live resharding, each step
// safe to repeat so that a half-done slot is finished rather than restarted:
//
//  1. CLUSTER SETSLOT slot IMPORTING srcID on dst (first: dst must accept ASK redirections
//     before src sends any); "already the owner" means dst has it: go to 4;
//  2. CLUSTER SETSLOT slot MIGRATING dstID on src; "not the owner" after 1 succeeded means a
//     third node owns the slot (src gave it away, or the snapshot is stale): stop, the next
//     pass re-plans from what it observes;
//  3. CLUSTER GETKEYSINSLOT on src and MIGRATE … REPLACE [AUTH2 default pw] KEYS … in batches
//     until none is left (REPLACE: after a timed-out MIGRATE a key may be on both sides, and
//     src's copy is the one writes went to);
//  4. CLUSTER COUNTKEYSINSLOT on src must be 0 (no key left behind), then CLUSTER SETSLOT slot
//     NODE dstID on dst, then src, then every other master.
func (a *applier) migrateSlot(ctx context.Context, slot int, src, srcID, dst, dstID string) (int64, error) {
	s := strconv.Itoa(slot)
	keys := int64(0)
	owned := false
	if err := a.do(ctx, dst, "CLUSTER", "SETSLOT", s, "IMPORTING", srcID); err != nil {
		if !strings.Contains(err.Error(), "already the owner") {
			return 0, fmt.Errorf("importing on target: %w", err)
		}
		owned = true
	}
	if !owned {
		if err := a.do(ctx, src, "CLUSTER", "SETSLOT", s, "MIGRATING", dstID); err != nil {
			if strings.Contains(err.Error(), "not the owner") {
				return 0, fmt.Errorf("migrating on source: %w: another node owns the slot, re-planning", err)
			}
			return 0, fmt.Errorf("migrating on source: %w", err)
		}
		n, err := a.migrateKeys(ctx, s, src, dst)
		keys = n
		if err != nil {
			return keys, err
		}
	}
	left, err := a.result(ctx, src, a.timeout, "CLUSTER", "COUNTKEYSINSLOT", s)
	if err != nil {
		return keys, fmt.Errorf("countkeysinslot on source: %w", err)
	}
	if n, err := left.AsInt64(); err != nil || n != 0 {
		return keys, fmt.Errorf("source still holds %d keys of the slot (%v): not handing it over", n, err)
	}
	if err := a.do(ctx, dst, "CLUSTER", "SETSLOT", s, "NODE", dstID); err != nil {
		return keys, fmt.Errorf("node on target: %w", err)
	}
	// A master that gave away its last slot turns itself into a replica of the new owner
	// (cluster-allow-replica-migration) as soon as the target's gossip reaches it, and refuses
	// SETSLOT then: the slot is no longer its own either way.
	if err := a.do(ctx, src, "CLUSTER", "SETSLOT", s, "NODE", dstID); err != nil && !strings.Contains(err.Error(), "only with masters") {
		return keys, fmt.Errorf("node on source: %w", err)
	}
	var wg sync.WaitGroup
	for _, m := range a.masters {
		if m != src && m != dst {
			wg.Go(func() { _ = a.do(ctx, m, "CLUSTER", "SETSLOT", s, "NODE", dstID) }) // gossip brings it too
		}
	}
	wg.Wait()
	return keys, nil
}

// migrateKeys moves every key of slot from src to dst and returns how many it moved.
func (a *applier) migrateKeys(ctx context.Context, slot, src, dst string) (int64, error) {
	host, port, err := net.SplitHostPort(dst)
	if err != nil {
		return 0, err
	}
	batch := strconv.Itoa(a.mig.Batch)
	timeout := strconv.FormatInt(a.mig.Timeout.Milliseconds(), 10)
	moved := int64(0)
	for {
		msg, err := a.result(ctx, src, a.timeout, "CLUSTER", "GETKEYSINSLOT", slot, batch)
		if err != nil {
			return moved, fmt.Errorf("getkeysinslot: %w", err)
		}
		keys, err := msg.AsStrSlice()
		if err != nil {
			return moved, fmt.Errorf("getkeysinslot: %w", err)
		}
		if len(keys) == 0 {
			return moved, nil
		}
		maxBytes := a.mig.MaxBytes
		if maxBytes <= 0 {
			maxBytes = batchBytes
		}
		for _, part := range splitBySize(keys, a.sizes(ctx, src, keys), maxBytes) {
			cmd := []string{"MIGRATE", host, port, "", "0", timeout, "REPLACE"}
			if a.t.Password != "" {
				cmd = append(cmd, "AUTH2", "default", a.t.Password)
			}
			cmd = append(cmd, "KEYS")
			cmd = append(cmd, part...)
			if _, err := a.result(ctx, src, a.mig.Timeout+a.timeout, cmd...); err != nil {
				return moved, fmt.Errorf("migrate %d keys: %w", len(part), err)
			}
			moved += int64(len(part))
		}
		if len(keys) < a.mig.Batch {
			// Every key of the slot was listed, and none can appear on a MIGRATING source
			// (a command for a missing key is redirected to the target with ASK).
			return moved, nil
		}
	}
}

// batchBytes is the default bound of one MIGRATE: about 1 MB of MEMORY USAGE, which a source
// serializes and sends in a few ms on a pod network, far under any node timeout.
const batchBytes = 1 << 20

// sizes are the MEMORY USAGE of keys on src, in one pipelined round trip; -1 for a key whose
// size is unknown (gone, or MEMORY not allowed): splitBySize then sends it alone.
func (a *applier) sizes(ctx context.Context, src string, keys []string) []int64 {
	out := make([]int64, len(keys))
	for i := range out {
		out[i] = -1
	}
	client, err := a.c.get(src, a.t.Password)
	if err != nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = client.B().MemoryUsage().Key(k).Build()
	}
	for i, r := range client.DoMulti(ctx, cmds...) {
		if n, err := r.AsInt64(); err == nil {
			out[i] = n
		} else if rueidis.IsRedisNil(err) || strings.HasPrefix(err.Error(), "ASK ") || strings.HasPrefix(err.Error(), "MOVED ") {
			out[i] = 0 // not here (gone, or moved already): MIGRATE skips it
		}
	}
	return out
}

// splitBySize cuts keys into consecutive parts whose sizes add up to at most max; a key of
// unknown size (-1) or larger than max is a part of its own.
func splitBySize(keys []string, sizes []int64, max int64) [][]string {
	var out [][]string
	start, sum := 0, int64(0)
	for i, n := range sizes {
		if n < 0 || n > max {
			if i > start {
				out = append(out, keys[start:i])
			}
			out = append(out, keys[i:i+1])
			start, sum = i+1, 0
			continue
		}
		if sum+n > max && i > start {
			out = append(out, keys[start:i])
			start, sum = i, 0
		}
		sum += n
	}
	if start < len(keys) {
		out = append(out, keys[start:])
	}
	return out
}
