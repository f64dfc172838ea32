package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/redhook/redhook/hooks"
)

// Edits of the -f files are what `kubectl apply` of an edited file is in a cluster: the
// watcher re-reads the files when their content changes and, when the RedisFailover is valid,
// the next syncs use it (generation + 1). An edit that is not valid, or that changes what the
// local pods are laid out by, is reported and ignored: the cluster keeps running on the last
// good spec, as the API server would refuse the object.

// watchEvery is how often the -f files are polled.
const watchEvery = time.Second

// watch polls the -f files until ctx ends and applies their edits.
func (c *Cluster) watch(ctx context.Context) {
	every(ctx, watchEvery, func() {
		sum := c.sumFiles()
		if sum == c.filesSum {
			return
		}
		c.filesSum = sum
		if err := c.reload(); err != nil {
			c.printf("edit not applied, the cluster keeps running as it is: %v", err)
			c.log.Error().Err(err).Msg("edit not applied")
		}
	})
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fn()
	}
}

// reload reads the files again and makes their RedisFailover the one the next syncs use.
func (c *Cluster) reload() error {
	in, err := c.readInput()
	if err != nil {
		return err
	}
	if err := c.followable(in); err != nil {
		return fmt.Errorf("%s: %w", in.source, err)
	}
	c.mu.Lock()
	same, err := sameObject(c.latest, &in.parent)
	if err == nil && !same {
		in.parent.Generation = c.latest.Generation + 1
		c.latest, c.secrets = &in.parent, in.secrets
	}
	generation := c.latest.Generation
	c.mu.Unlock()
	if err != nil || same {
		return err
	}
	c.printf("%s changed: RedisFailover %s at generation %d", in.source, c.key(), generation)
	c.poke()
	return nil
}

// followable refuses an edit of what the local pods are laid out by (their number, addresses
// and ports, the sentinels, the password the processes and clients hold): in a cluster these
// would create or remove pods and Services, which local mode does not do. Restarting
// `redhook local` applies them.
func (c *Cluster) followable(in *input) error {
	was, is := c.parent.WithDefaults(), in.parent.WithDefaults()
	var errs []error
	differs := func(field string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			errs = append(errs, fmt.Errorf("%s: %v → %v: local mode cannot change it while running; restart redhook local", field, a, b))
		}
	}
	differs("metadata.namespace", was.Namespace, is.Namespace)
	differs("metadata.name", was.Name, is.Name)
	differs("spec.redis.replicas", was.Spec.Redis.Replicas, is.Spec.Redis.Replicas)
	differs("spec.redis.port", was.Spec.Redis.Port, is.Spec.Redis.Port)
	differs("spec.sentinel.replicas", was.Spec.Sentinel.Replicas, is.Spec.Sentinel.Replicas)
	differs("spec.sentinel.enabled", hooks.SentinelsEnabled(was), hooks.SentinelsEnabled(is))
	differs("spec.sentinel.masterName", was.Spec.Sentinel.MasterName, is.Spec.Sentinel.MasterName)
	differs("spec.auth", was.Spec.Auth, is.Spec.Auth)
	differs("spec.bootstrapNode", was.Spec.BootstrapNode, is.Spec.BootstrapNode)
	if in.password != c.password {
		errs = append(errs, errors.New("the auth password changed: local mode cannot change it while running; restart redhook local"))
	}
	return errors.Join(errs...)
}

// sameObject tells whether two RedisFailovers are equal but for their generation and status.
func sameObject(a, b *hooks.RedisFailover) (bool, error) {
	strip := func(rf *hooks.RedisFailover) ([]byte, error) {
		c := rf.DeepCopy()
		c.Generation, c.Status = 0, hooks.RedisFailoverStatus{}
		return json.Marshal(c)
	}
	ja, err := strip(a)
	if err != nil {
		return false, err
	}
	jb, err := strip(b)
	if err != nil {
		return false, err
	}
	return string(ja) == string(jb), nil
}
