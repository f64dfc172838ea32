package main

import (
	"crypto/sha256"
	"reflect"
	"sync"
	"time"

	"github.com/redhook/redhook/hooks"
)

// syncCache remembers, per RedisFailover, the last sync response and what it was computed from.
// hooks.SyncWithTopology is a pure function of the request and the healer's report (and of this
// binary's code), so a sync whose request bytes and report are both unchanged gets the same
// response, byte for byte, without decoding, rendering or encoding anything. A settled
// RedisFailover is synced every 30 s and an unsettled one every 2 s with the same request; its
// report changes only when a heal pass sees something new or stamps a new time.
//
// Bounded: one entry per parent key (a new response replaces the parent's previous one), and
// entries not used for forgetAfter (the healer's ForgetAfter: the RedisFailover is deleted or
// no longer synced) are dropped.
type syncCache struct {
	forgetAfter time.Duration
	now         func() time.Time

	mu        sync.Mutex
	byRequest map[[sha256.Size]byte]*cachedSync
	byParent  map[string]*cachedSync
	swept     time.Time
}

// cachedSync is one remembered response. Immutable once stored, but for used (under the lock).
type cachedSync struct {
	request [sha256.Size]byte // SHA-256 of the request body
	key     string            // the parent's namespace/name, read from that body
	report  hooks.HealerReport
	body    []byte // the encoded response
	topo    hooks.Topology
	used    time.Time
}

func newSyncCache(forgetAfter time.Duration) *syncCache {
	return &syncCache{forgetAfter: forgetAfter, now: time.Now,
		byRequest: map[[sha256.Size]byte]*cachedSync{}, byParent: map[string]*cachedSync{}}
}

// requestSum is the cache's name for a request body.
func requestSum(body []byte) [sha256.Size]byte { return sha256.Sum256(body) }

// lookup returns the entry computed from the same request bytes, if any. The caller still has
// to check that the healer's report for its key is the one it was computed with (fresh).
func (c *syncCache) lookup(sum [sha256.Size]byte) (*cachedSync, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep()
	e, ok := c.byRequest[sum]
	if ok {
		e.used = c.now()
	}
	return e, ok
}

// fresh tells whether e was computed with report: every field compared, the report time
// included (Sync stamps conditions with it).
func (e *cachedSync) fresh(report hooks.HealerReport) bool {
	return reflect.DeepEqual(e.report, report)
}

// store remembers a response, replacing the previous one of the same parent.
func (c *syncCache) store(e *cachedSync) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.used = c.now()
	if old, ok := c.byParent[e.key]; ok {
		delete(c.byRequest, old.request)
	}
	if other, ok := c.byRequest[e.request]; ok && other.key != e.key {
		delete(c.byParent, other.key) // cannot happen: the key is read from the hashed bytes
	}
	c.byParent[e.key] = e
	c.byRequest[e.request] = e
	c.sweep()
}

// sweep drops the entries not used for forgetAfter, at most every forgetAfter/4. Caller holds
// c.mu.
func (c *syncCache) sweep() {
	now := c.now()
	if now.Sub(c.swept) < c.forgetAfter/4 {
		return
	}
	c.swept = now
	for key, e := range c.byParent {
		if now.Sub(e.used) > c.forgetAfter {
			delete(c.byParent, key)
			delete(c.byRequest, e.request)
		}
	}
}

// len is the number of entries.
func (c *syncCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byParent)
}
