package local

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/redhook/redhook/hooks"
)

// Local mode plays the StatefulSet controller for the redis pods' rollouts. A pod carries the
// revision of the pod template it was created from; when the rendered template changes, the
// pods from the highest ordinal down to the partition the hook renders are replaced one at a
// time: the rendered preStop hook and SIGTERM (Stop), new files from the rendered children, a
// fresh data directory unless the spec asks for a PersistentVolumeClaim, a start at the new
// revision, and the next pod only once this one is Ready. Below the partition the pods wait for
// the healer's planned switchover (hooks/rollout.go, healer rule 14), as in a cluster.

// redisSet is what the StatefulSet controller reads of the rendered redis StatefulSet.
type redisSet struct {
	replicas, partition int32
	revision            string // of spec.template; see templateRevision
}

// redisSetOf finds the redis StatefulSet named name among children; found is false when there
// is none (before the first sync).
func redisSetOf(children []any, name string) (set redisSet, found bool, err error) {
	var sts struct {
		Spec struct {
			Replicas       *int32 `json:"replicas"`
			UpdateStrategy struct {
				RollingUpdate *struct {
					Partition *int32 `json:"partition"`
				} `json:"rollingUpdate"`
			} `json:"updateStrategy"`
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if found, err = findChild(children, "StatefulSet", name, &sts); !found || err != nil {
		return set, found, err
	}
	set.replicas = 1
	if sts.Spec.Replicas != nil {
		set.replicas = *sts.Spec.Replicas
	}
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		set.partition = *ru.Partition
	}
	set.revision, err = templateRevision(name, sts.Spec.Template)
	return set, true, err
}

// templateRevision names a pod template as the StatefulSet controller names its
// ControllerRevisions: the StatefulSet's name and a hash of the template. The template is
// hashed in a canonical form (object keys sorted), so that the typed child of a fresh rendering
// and the same child read back as JSON have one revision.
func templateRevision(sts string, template json.RawMessage) (string, error) {
	var v any
	if err := json.Unmarshal(template, &v); err != nil {
		return "", fmt.Errorf("the pod template of %s: %w", sts, err)
	}
	canonical, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(canonical)
	return sts + "-" + hex.EncodeToString(sum[:])[:10], nil
}

// desiredRedisSet is the redis StatefulSet of the last sync response.
func (c *Cluster) desiredRedisSet() (redisSet, bool, error) {
	c.mu.Lock()
	children := c.children
	c.mu.Unlock()
	return redisSetOf(children, hooks.RedisName(c.parent.Name))
}

// setInitialRevisions puts every redis pod on the revision of the first rendering, as a new
// StatefulSet creates its pods.
func (c *Cluster) setInitialRevisions() error {
	set, found, err := c.desiredRedisSet()
	if err != nil || !found {
		return fmt.Errorf("the first sync rendered no redis StatefulSet: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.redis {
		p.revision = set.revision
	}
	c.currentRevision = set.revision
	return nil
}

// roller is the StatefulSet controller's rolling update of the redis pods.
type roller struct {
	c *Cluster
	// target is the update revision of the rollout under way, "" when none is.
	target  string
	started time.Time
	// replaced is the pod last replaced, until it is Ready.
	replaced     *Pod
	replacedAt   time.Time
	lastWaitNote string
}

// run steps the rollout every 200 ms until ctx ends.
func (r *roller) run(ctx context.Context) {
	every(ctx, 200*time.Millisecond, func() {
		if err := r.step(ctx); err != nil && ctx.Err() == nil {
			r.c.log.Error().Err(err).Msg("rollout")
		}
	})
}

// podState is a redis pod as the StatefulSet controller sees it.
type podState struct {
	revision           string
	ready, terminating bool
}

func (c *Cluster) podState(p *Pod) podState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return podState{revision: p.revision, ready: p.ready && p.proc.running(), terminating: p.terminating}
}

// step is one pass of the StatefulSet controller's rolling update (updateStatefulSet in
// Kubernetes): from the highest ordinal down to the partition, replace the first pod that is not
// on the update revision; stop at the first pod that is not healthy.
func (r *roller) step(ctx context.Context) error {
	c := r.c
	set, found, err := c.desiredRedisSet()
	if err != nil || !found {
		return err
	}
	r.notice(set)
	for i := len(c.redis) - 1; i >= int(set.partition) && i >= 0; i-- {
		p := c.redis[i]
		st := c.podState(p)
		if st.revision != set.revision && !st.terminating {
			return r.replace(ctx, p, set)
		}
		if !st.ready || st.terminating {
			return nil // wait for it
		}
	}
	r.noteWaiting(set)
	return nil
}

// notice prints what changed since the last step: a new update revision, a replaced pod that
// is Ready, a rollout that is done.
func (r *roller) notice(set redisSet) {
	c := r.c
	if set.revision != r.target && r.outdated(set.revision) == 0 {
		r.target = "" // an edit undone before any pod was replaced: nothing to roll
	}
	if set.revision != r.target && r.outdated(set.revision) > 0 {
		r.target, r.started, r.lastWaitNote = set.revision, time.Now(), ""
		c.printf("redis StatefulSet: update revision %s, %d of %d pods to replace, highest ordinal first (partition %d)",
			set.revision, r.outdated(set.revision), len(c.redis), set.partition)
	}
	if p := r.replaced; p != nil {
		if st := c.podState(p); st.ready && st.revision == set.revision {
			c.printf("%s ready at revision %s (%s after its replacement began)", p.name, st.revision,
				time.Since(r.replacedAt).Round(time.Millisecond))
			r.replaced = nil
		}
	}
	if r.target != "" && r.target == set.revision && r.outdated(set.revision) == 0 && r.replaced == nil && r.allReady() {
		c.printf("rollout done: every redis pod at revision %s (%s)", set.revision, time.Since(r.started).Round(time.Millisecond))
		r.target = ""
	}
}

// noteWaiting says, once per partition, why the pods below the partition wait.
func (r *roller) noteWaiting(set redisSet) {
	if r.target == "" || set.partition == 0 {
		return
	}
	var below []string
	for _, p := range r.c.redis[:min(int(set.partition), len(r.c.redis))] {
		if r.c.podState(p).revision != set.revision {
			below = append(below, p.name)
		}
	}
	note := fmt.Sprintf("partition %d: %s wait for the healer's switchover away from the master", set.partition, strings.Join(below, ", "))
	if len(below) > 0 && note != r.lastWaitNote {
		r.c.printf("%s", note)
		r.lastWaitNote = note
	}
}

func (r *roller) outdated(revision string) int {
	n := 0
	for _, p := range r.c.redis {
		if r.c.podState(p).revision != revision {
			n++
		}
	}
	return n
}

func (r *roller) allReady() bool {
	for _, p := range r.c.redis {
		if !r.c.podState(p).ready {
			return false
		}
	}
	return true
}

// replace deletes p and creates it again at revision, as the StatefulSet controller and the
// kubelet do: the preStop hook and SIGTERM (SIGKILL after the grace period), then, with the
// process held down, the new revision and (unless the data is on a PersistentVolumeClaim) an
// empty data directory; the process starts again after the restart delay on the files of the
// current rendering (prepare). Readiness is the probes' business: step waits for it.
func (r *roller) replace(ctx context.Context, p *Pod, set redisSet) error {
	c := r.c
	revision := set.revision
	c.printf("rolling %s (%s, partition %d) to revision %s", p.name, c.role(p), set.partition, revision)
	r.replaced, r.replacedAt = p, time.Now()
	p.proc.hold()
	defer p.proc.release()
	c.setTerminating(p, true)
	if p.proc.running() {
		if out, err := c.Stop(ctx, p); err != nil {
			c.log.Warn().Err(err).Str("pod", p.name).Bytes("preStop", out).Msg("stop for rollout")
		}
		_, grace := c.preStop(p.component)
		if !p.proc.waitExit(ctx, grace) {
			_ = p.proc.signal(syscall.SIGKILL) // the grace period is over, as for a kubelet
			p.proc.waitExit(ctx, 10*time.Second)
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := c.freshVolumes(p); err != nil {
		return fmt.Errorf("replace %s: %w", p.name, err)
	}
	c.mu.Lock()
	p.revision, p.terminating, p.ready = revision, false, false
	c.mu.Unlock()
	c.poke()
	return nil
}

// freshVolumes empties a replaced pod's data directory when its data is on an emptyDir, which
// a new pod gets empty; a PersistentVolumeClaim is kept, as the StatefulSet's claim is.
func (c *Cluster) freshVolumes(p *Pod) error {
	c.mu.Lock()
	pvc := c.latest.Spec.Redis.Storage.PersistentVolumeClaim != nil
	c.mu.Unlock()
	if pvc {
		return nil
	}
	data := filepath.Join(p.dir, "data")
	if err := os.RemoveAll(data); err != nil {
		return err
	}
	return os.MkdirAll(data, 0o700)
}

func (c *Cluster) setTerminating(p *Pod, on bool) {
	c.mu.Lock()
	p.terminating = on
	c.mu.Unlock()
	c.poke()
}

// role is the pod's role in the healer's last report: master, replica or unknown.
func (c *Cluster) role(p *Pod) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.report.Master; m != nil && m.Pod == p.name {
		return "master"
	}
	for _, r := range c.report.Redis {
		if r.Pod == p.name && r.Reachable && r.Role == hooks.RoleReplica {
			return "replica"
		}
	}
	return "neither master nor replica"
}

// printf prints one progress line, with the time, to the cluster's output.
func (c *Cluster) printf(format string, args ...any) {
	fmt.Fprintf(c.out, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}
