package driver

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Controller runs the Driver continuously, as Metacontroller runs a CompositeController: it
// watches the parents (the kind of the CompositeController's parentResource), every child type and pods (the related objects redhook asks for), and
// syncs the parents after every event, every Resync, when a sync asked for resyncAfterSeconds,
// and again with exponential backoff after a failed sync. It syncs every parent after any
// event (Metacontroller maps an event to its parent; in tests there are few parents), and skips
// parents that are being deleted (no finalize hook: the garbage collector removes the children).
type Controller struct {
	Driver *Driver
	Resync time.Duration // resyncPeriodSeconds; 30 s when zero
	// Watch are the kinds whose events trigger a sync besides the parent and the child types.
	Watch []schema.GroupVersionKind
	// OnPass, when set, sees every pass (tests: count passes, collect rejected children).
	OnPass func(namespace, name string, r PassResult, err error)

	mu      sync.Mutex
	trigger chan struct{}
}

// Kick asks for a sync of every parent now.
func (c *Controller) Kick() {
	c.mu.Lock()
	ch := c.trigger
	c.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	c.mu.Lock()
	c.trigger = make(chan struct{}, 1)
	c.mu.Unlock()
	resync := c.Resync
	if resync == 0 {
		resync = 30 * time.Second
	}
	parentKind, err := c.Driver.parentKind(ctx)
	for err != nil { // discovery may lag a CRD that was just created
		c.logf("%v", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		parentKind, err = c.Driver.parentKind(ctx)
	}
	kinds := append([]schema.GroupVersionKind{parentKind}, c.Driver.ChildTypes...)
	kinds = append(kinds, c.Watch...)
	var wg sync.WaitGroup
	for _, gvk := range kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.watch(ctx, gvk)
		}()
	}
	defer wg.Wait()

	backoff := map[string]time.Duration{}
	next := time.Now().Add(resync)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.trigger:
		case <-timer.C:
		}
		// Events come in bursts (one apply changes several objects): collect them briefly.
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		select {
		case <-c.trigger:
		default:
		}
		wait := time.Until(next)
		if wait <= 0 {
			next = time.Now().Add(resync)
			wait = resync
		}
		parents, err := c.Driver.Client.List(ctx, parentKind, "", "")
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			c.logf("list parents: %v", err)
			wait = time.Second
		}
		for _, p := range parents {
			if ctx.Err() != nil {
				return
			}
			if p.GetDeletionTimestamp() != nil {
				continue
			}
			key := p.GetNamespace() + "/" + p.GetName()
			r, err := c.Driver.Pass(ctx, p.GetNamespace(), p.GetName())
			if ctx.Err() != nil {
				return
			}
			if c.OnPass != nil {
				c.OnPass(p.GetNamespace(), p.GetName(), r, err)
			}
			if err != nil || len(r.Rejected) > 0 {
				// Metacontroller records a SyncError event and retries with exponential backoff.
				b := max(backoff[key]*2, 50*time.Millisecond)
				b = min(b, 5*time.Second)
				backoff[key] = b
				c.logf("sync %s: %v %v (retry in %v)", key, err, r.Rejected, b)
				wait = min(wait, b)
				continue
			}
			delete(backoff, key)
			if r.ResyncAfterSeconds > 0 {
				wait = min(wait, time.Duration(r.ResyncAfterSeconds*float64(time.Second)))
			}
		}
		timer.Reset(wait)
	}
}

// watch triggers a sync on every event of a kind, re-establishing the watch when it ends.
func (c *Controller) watch(ctx context.Context, gvk schema.GroupVersionKind) {
	for ctx.Err() == nil {
		err := c.Driver.Client.Watch(ctx, gvk, "", func(WatchEvent) bool {
			c.Kick()
			return true
		})
		if err != nil && ctx.Err() == nil {
			c.logf("watch %s: %v", gvk.Kind, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(200+rand.IntN(300)) * time.Millisecond):
		}
	}
}

func (c *Controller) logf(format string, args ...any) {
	if c.Driver.Logf != nil {
		c.Driver.Logf(format, args...)
	}
}
