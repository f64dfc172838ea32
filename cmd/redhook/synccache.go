package main

import (
	"hash/maphash"
	"reflect"
	"sync"
	"time"

	"github.com/redhook/redhook/hooks"
)

// syncCache remembers, per RedisFailover, the last sync response and what it was computed from.
// hooks.SyncWithTopology is a pure function of the request and the healer's report (and of this
// binary's code), so a sync whose request bytes and report are both unchanged gets the same
// response, byte for byte, without decoding, rendering or encoding anything (the request is
// named by a hash of its bytes, see requestID). A settled
// RedisFailover is synced every 30 s and an unsettled one every 2 s with the same request; its
// report changes only when a heal pass sees something new (see fresh for its time).
//
// Bounded: one entry per parent key (a new response replaces the parent's previous one), and
// entries not used for forgetAfter (the healer's ForgetAfter: the RedisFailover is deleted or
// no longer synced) are dropped.
type syncCache struct {
	forgetAfter time.Duration
	now         func() time.Time

	mu        sync.Mutex
	byRequest map[requestID]*cachedSync
	byParent  map[string]*cachedSync
	swept     time.Time
}

// cachedSync is one remembered response. Immutable once stored, but for used (under the lock).
type cachedSync struct {
	request requestID
	key     string // the parent's namespace/name, read from that body
	report  hooks.HealerReport
	// reportTimeRead: the response depends on report.Time (see fresh).
	reportTimeRead bool
	gz             []byte // the encoded response, gzipped (see gzipped)
	topo           hooks.Topology
	used           time.Time
}

func newSyncCache(forgetAfter time.Duration) *syncCache {
	return &syncCache{forgetAfter: forgetAfter, now: time.Now,
		byRequest: map[requestID]*cachedSync{}, byParent: map[string]*cachedSync{}}
}

// requestID names a request body: its length and two 64-bit hashes with independent random
// seeds. The seeds never leave the process, so nobody can make two bodies collide on purpose;
// by chance, two different bodies of one length share an ID with probability 2^-128. maphash
// (AES-based) reads a 50 KB body in a few µs, SHA-256 in ~50 µs: the hash is most of a hit.
type requestID struct {
	n    int
	h, g uint64
}

var requestSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// requestSum is the cache's name for a request body.
func requestSum(body []byte) requestID {
	return requestID{n: len(body), h: maphash.Bytes(requestSeeds[0], body), g: maphash.Bytes(requestSeeds[1], body)}
}

// lookup returns the entry computed from the same request bytes, if any. The caller still has
// to check that the healer's report for its key is the one it was computed with (fresh).
func (c *syncCache) lookup(sum requestID) (*cachedSync, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweep()
	e, ok := c.byRequest[sum]
	if ok {
		e.used = c.now()
	}
	return e, ok
}

// fresh tells whether e holds the response to report: every field of the report equal, its
// time included when the computation read it (a condition flipped and was stamped with it).
// Otherwise the time only has to be known on both sides: a heal pass that saw nothing new
// makes a report that differs only in its time, and the response of a steady RedisFailover does
// not change with it (hooks.SyncResult.ReportTimeRead).
func (e *cachedSync) fresh(report hooks.HealerReport) bool {
	if e.reportTimeRead {
		return reflect.DeepEqual(e.report, report)
	}
	if e.report.Known() != report.Known() {
		return false
	}
	a, b := e.report, report
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
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
