package healer

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/redhook/redhook/hooks"
)

// Config tunes the pool. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Workers bounds the heal passes running at once.
	Workers int
	// Interval is the re-check period of a healthy RedisFailover.
	Interval time.Duration
	// FastInterval is the re-check period while a RedisFailover is unsettled: actions were just
	// applied, a failover is in progress, or no master is known.
	FastInterval time.Duration
	// ForgetAfter is how long a RedisFailover is kept without a Track; then its connections are
	// closed and its report dropped.
	ForgetAfter time.Duration
	// DialTimeout bounds a connection attempt; CommandTimeout bounds every command.
	DialTimeout    time.Duration
	CommandTimeout time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after a pass with errors.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// SilentMaxInterval bounds the backoff instead of MaxBackoff while no pod of a
	// RedisFailover answers (or it has none) and no master is known: each pass then costs a
	// dial per pod for nothing, and a pod that comes back changes its readiness, which a sync
	// brings at once. At least MaxBackoff; zero: 4 × MaxBackoff.
	SilentMaxInterval time.Duration
	// WatchInterval is how often the master watcher sends ROLE to the master of each
	// RedisFailover (see watch.go); negative disables the watcher. WatchTimeout bounds each of
	// its dials and round trips.
	WatchInterval time.Duration
	WatchTimeout  time.Duration
	// History is how many recent actions the report keeps.
	History int
	// OnAction, unless nil, receives every action a pass applied, in order, once the pass has
	// applied them, with the key ("namespace/name") of its RedisFailover and the action's error
	// (nil when it succeeded): the report keeps only the last History of them. It runs in the
	// pass, outside the pool's lock, from several workers at once (for different keys), and
	// must return quickly.
	OnAction func(key string, rec hooks.ActionRecord, err error)
	// Registerer receives the healer's metrics; nil keeps them unregistered.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Workers: 8, Interval: 10 * time.Second, FastInterval: time.Second,
		ForgetAfter: 10 * time.Minute, DialTimeout: time.Second, CommandTimeout: 2 * time.Second,
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second, SilentMaxInterval: 2 * time.Minute, History: 10,
		WatchInterval: 200 * time.Millisecond, WatchTimeout: 200 * time.Millisecond}
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	d := DefaultConfig()
	set := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	if c.Workers == 0 {
		c.Workers = d.Workers
	}
	if c.History == 0 {
		c.History = d.History
	}
	set(&c.Interval, d.Interval)
	set(&c.FastInterval, d.FastInterval)
	set(&c.ForgetAfter, d.ForgetAfter)
	set(&c.DialTimeout, d.DialTimeout)
	set(&c.CommandTimeout, d.CommandTimeout)
	set(&c.MinBackoff, d.MinBackoff)
	set(&c.MaxBackoff, d.MaxBackoff)
	if c.SilentMaxInterval == 0 {
		c.SilentMaxInterval = 4 * c.MaxBackoff
	}
	set(&c.WatchInterval, d.WatchInterval)
	set(&c.WatchTimeout, d.WatchTimeout)
	return c
}

// Validate reports every invalid setting.
func (c Config) Validate() error {
	var errs []error
	if c.Workers < 1 {
		errs = append(errs, fmt.Errorf("workers %d: must be at least 1", c.Workers))
	}
	if c.History < 1 {
		errs = append(errs, fmt.Errorf("history %d: must be at least 1", c.History))
	}
	for name, d := range map[string]time.Duration{"interval": c.Interval, "fast interval": c.FastInterval,
		"forget after": c.ForgetAfter, "dial timeout": c.DialTimeout, "command timeout": c.CommandTimeout,
		"min backoff": c.MinBackoff, "max backoff": c.MaxBackoff, "watch timeout": c.WatchTimeout} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be positive", name, d))
		}
	}
	if c.SilentMaxInterval < c.MaxBackoff {
		errs = append(errs, fmt.Errorf("silent max interval %v is below max backoff %v", c.SilentMaxInterval, c.MaxBackoff))
	}
	if c.MaxBackoff < c.MinBackoff {
		errs = append(errs, fmt.Errorf("max backoff %v is below min backoff %v", c.MaxBackoff, c.MinBackoff))
	}
	return errors.Join(errs...)
}
