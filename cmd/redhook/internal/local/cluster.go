// Package local runs a RedisFailover as local redis-server and redis-sentinel processes through
// the same code as in a cluster (`redhook local`), and lets load tools kill its processes and
// watch its status (see docs/architecture.md, "Local mode").
package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"

	"github.com/redhook/redhook/cmd/redhook/internal/manifest"
	"github.com/redhook/redhook/healer"
	"github.com/redhook/redhook/hooks"
)

// Cluster runs one RedisFailover as local processes through the same code as in a
// cluster: hooks.Sync renders the children, the processes run the rendered configuration files
// and scripts, the healer pool converges them, and its report feeds the next Sync — which is
// what Metacontroller and the kubelet do in Kubernetes.
type Cluster struct {
	cfg     Config
	out     io.Writer
	log     zerolog.Logger
	dir     string
	tempDir bool

	// parent is the RedisFailover as first read: its name and the fields the pods are laid out
	// by, which an edit may not change (see followable). The latest accepted edit is latest.
	parent    hooks.RedisFailover
	password  string
	redis     []*Pod
	sentinel  []*Pod
	pool      *healer.Pool
	fwd       *forwarder
	wake      chan struct{}
	stdinDocs []manifest.Document // standard input, read once
	filesSum  [sha256.Size]byte   // of the -f files when last read; the watcher's only

	mu       sync.Mutex
	latest   *hooks.RedisFailover // the spec the syncs use: the last valid edit of the files
	secrets  map[string]json.RawMessage
	children []any
	status   hooks.RedisFailoverStatus
	report   hooks.HealerReport
	shown    string
	table    string
	// currentRevision is the redis StatefulSet's status.currentRevision: the revision every pod
	// ran before the rollout under way (see observedStatus).
	currentRevision string
}

// Pod is one pod: its address, its files and its process.
type Pod struct {
	name      string
	component string
	ip        string
	port      int32
	dir       string
	proc      *process // set before the processes start, then never changed

	// Under Cluster.mu:
	ready bool
	// probeFails counts the readiness failures in a row of the process started probedStart-th.
	probeFails  int32
	probedStart int
	// revision is the redis StatefulSet revision the pod was created from (its
	// controller-revision-hash label); empty for a sentinel.
	revision string
	// terminating: the pod is being replaced (its preStop hook runs, or its process stops).
	terminating bool
}

// New reads the RedisFailover of cfg and lays out its pods' addresses and directories; Run
// starts it.
func New(cfg Config, out io.Writer, log zerolog.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.BaseIP = cfg.BaseIP.To4()
	c := &Cluster{cfg: cfg, out: out, log: log, wake: make(chan struct{}, 1)}
	// The sum first: an edit made while the files are read is then seen by the first poll.
	c.filesSum = c.sumFiles()
	in, err := c.readInput()
	if err != nil {
		return nil, err
	}
	c.parent, c.latest, c.secrets, c.password = in.parent, in.parent.DeepCopy(), in.secrets, in.password
	if err := c.layout(); err != nil {
		return nil, err
	}
	return c, nil
}

// layout gives every pod its address and directory.
func (c *Cluster) layout() error {
	rf := c.parent.WithDefaults()
	if c.cfg.DataDir != "" {
		c.dir = c.cfg.DataDir
		if err := os.MkdirAll(c.dir, 0o700); err != nil {
			return err
		}
	} else {
		d, err := os.MkdirTemp("", "redhook-local-")
		if err != nil {
			return err
		}
		c.dir, c.tempDir = d, true
	}
	base := c.cfg.BaseIP
	for i := range int(rf.Spec.Redis.Replicas) {
		c.redis = append(c.redis, &Pod{name: hooks.RedisPodName(rf.Name, i),
			component: hooks.ComponentRedis, ip: addIP(base, i).String(), port: rf.Spec.Redis.Port})
	}
	if hooks.SentinelsEnabled(rf) {
		for j := range int(rf.Spec.Sentinel.Replicas) {
			// A Deployment's pods get random names; a stable one is easier to follow locally.
			c.sentinel = append(c.sentinel, &Pod{name: hooks.SentinelName(rf.Name) + "-local-" + strconv.Itoa(j),
				component: hooks.ComponentSentinel, ip: addIP(base, 256+j).String(), port: hooks.SentinelPort})
		}
	}
	for _, p := range c.pods() {
		p.dir = filepath.Join(c.dir, p.name)
		if err := os.MkdirAll(filepath.Join(p.dir, "data"), 0o700); err != nil {
			return err
		}
	}
	return nil
}

func addIP(base net.IP, n int) net.IP {
	v := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	v += uint32(n)
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func (c *Cluster) pods() []*Pod {
	return append(append([]*Pod(nil), c.redis...), c.sentinel...)
}

func (c *Cluster) key() string { return c.parent.Namespace + "/" + c.parent.Name }

// Run starts everything, keeps status and the master port up to date until ctx ends, then
// stops every process and removes the temporary files. load, unless nil, runs once the
// processes are started and the master port serves (a chaos monkey, a benchmark); it is stopped
// and waited for first, before anything else stops.
func (c *Cluster) Run(ctx context.Context, load func(ctx context.Context)) error {
	for _, bin := range []string{c.cfg.RedisServer, c.cfg.RedisCli} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found: install redis-server, redis-sentinel and redis-tools (make deps)", bin)
		}
	}
	defer c.cleanup()
	if _, err := c.sync(); err != nil {
		return err
	}
	if err := c.setInitialRevisions(); err != nil {
		return err
	}
	key := c.key()
	pool, err := healer.NewPool(healer.Config{Workers: 2, OnAction: func(k string, a hooks.ActionRecord, err error) {
		// A planned switchover (rule 14, or a rollout's), once its pass applied it: the report
		// keeps only the last actions, and a burst after a switchover can push it out between
		// two syncs.
		switch {
		case k != key || !strings.HasPrefix(a.Action, "switchover "):
		case err != nil:
			c.printf("healer: failed: %s: %s: %v", a.Action, a.Reason, err)
		default:
			c.printf("healer: %s: %s", a.Action, a.Reason)
		}
	}}, c.log)
	if err != nil {
		return err
	}
	c.pool = pool
	// Everything below stops in reverse order of start: load, master port, processes, healer.
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	stops = append(stops, background(func(ctx context.Context) { _ = pool.Run(ctx) }))
	procs := c.startProcesses()
	stops = append(stops, func() { fmt.Fprintln(c.out, "stopping every process…"); procs() })
	// The StatefulSet controller and the edits of the files: stopped before the processes.
	stops = append(stops, background((&roller{c: c}).run), background(c.watch))
	if c.cfg.MasterPort > 0 {
		fwd, err := newForwarder(net.JoinHostPort("127.0.0.1", strconv.Itoa(c.cfg.MasterPort)), c.log)
		if err != nil {
			return fmt.Errorf("--master-port: %w", err)
		}
		c.fwd = fwd
		stops = append(stops, background(fwd.Serve))
	}
	c.printConnect()
	if load != nil {
		stops = append(stops, background(load))
	}
	c.loop(ctx)
	return nil
}

// startProcesses starts every pod's process, restarted like a container until the returned
// function stops them all and waits. The process handles are set here, before any goroutine
// starts: the probes, the chaos monkey and the benchmark read them without a lock.
func (c *Cluster) startProcesses() (stop func()) {
	for _, p := range c.pods() {
		p.proc = &process{name: p.name, argv: c.argv(p), logPath: filepath.Join(p.dir, "process.log"),
			log: c.log, onChange: c.poke, prepare: func() error { return c.writeFiles(p) }}
	}
	return background(func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, p := range c.pods() {
			wg.Go(func() { p.proc.run(ctx, c.cfg.RestartDelay) })
		}
		wg.Wait()
	})
}

// background runs fn in a goroutine with its own context; the returned function cancels it and
// waits for fn to return.
func background(fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// loop re-syncs on every change (process started or exited, readiness, healer report) and at
// least every 500 ms, until ctx ends.
func (c *Cluster) loop(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	probe := time.NewTicker(time.Second)
	defer probe.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-probe.C:
			c.probeAll(ctx)
		case <-tick.C:
		case <-c.wake:
		}
		if _, err := c.sync(); err != nil {
			c.log.Error().Err(err).Msg("sync")
		}
	}
}

func (c *Cluster) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// sync builds the request Metacontroller would send, calls hooks.Sync with the healer's report,
// hands the topology to the healer and shows what changed.
func (c *Cluster) sync() (hooks.SyncResponse, error) {
	req, err := c.request()
	if err != nil {
		return hooks.SyncResponse{}, err
	}
	var obs hooks.HealerReport
	if c.pool != nil {
		obs = c.pool.Report(c.key())
	}
	resp, topo, _ := hooks.SyncWithTopology(req, obs) // a held topology: see healer.Pool.Track
	if c.pool != nil {
		c.pool.Track(topo)
	}
	c.mu.Lock()
	c.children, c.status, c.report = resp.Children, resp.Status, obs
	c.mu.Unlock()
	if c.fwd != nil {
		target := ""
		if obs.Master != nil {
			target = net.JoinHostPort(obs.Master.IP, strconv.Itoa(int(c.redis[0].port)))
		}
		c.fwd.SetTarget(target)
	}
	c.show(resp.Status, obs)
	return resp, nil
}

// request is the sync request of this moment: the parent with its last status, the children of
// the last response as observed objects, the pods with their addresses, readiness and revisions.
func (c *Cluster) request() (*hooks.SyncRequest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := &hooks.SyncRequest{Parent: *c.latest.DeepCopy(), Children: hooks.Objects{},
		Related: hooks.Objects{hooks.KeyPod: {}, hooks.KeySecret: c.secrets}}
	req.Parent.Status = c.status
	st, err := c.observedStatus()
	if err != nil {
		return nil, err
	}
	ns := c.parent.Namespace
	for _, child := range c.children {
		key, name, raw, err := observedChild(child, st)
		if err != nil {
			return nil, err
		}
		if req.Children[key] == nil {
			req.Children[key] = map[string]json.RawMessage{}
		}
		req.Children[key][ns+"/"+name] = raw
	}
	for _, p := range c.pods() {
		raw, err := podObject(p, ns, c.parent.Name)
		if err != nil {
			return nil, err
		}
		req.Related[hooks.KeyPod][ns+"/"+p.name] = raw
	}
	return req, nil
}

// observedStatus is the workload status the local pods make, as the StatefulSet and Deployment
// controllers would report it; c.mu is held. The current revision becomes the update revision
// once every redis pod runs it and is Ready, as the StatefulSet controller does at the end of a
// rolling update.
func (c *Cluster) observedStatus() (workloadStatus, error) {
	st := workloadStatus{readyRedis: c.readyCount(hooks.ComponentRedis), readySentinel: c.readyCount(hooks.ComponentSentinel)}
	set, found, err := redisSetOf(c.children, hooks.RedisName(c.parent.Name))
	if err != nil || !found {
		return st, err
	}
	st.updateRevision = set.revision
	for _, p := range c.redis {
		if p.revision == set.revision {
			st.updatedRedis++
		}
	}
	if c.currentRevision == "" || st.updatedRedis == int32(len(c.redis)) && st.readyRedis == st.updatedRedis {
		c.currentRevision = set.revision
	}
	st.currentRevision = c.currentRevision
	return st, nil
}

func (c *Cluster) readyCount(component string) int32 {
	var n int32
	for _, p := range c.pods() {
		if p.component == component && p.ready {
			n++
		}
	}
	return n
}

// workloadStatus is what the local pods tell of the redis StatefulSet and the sentinel
// Deployment.
type workloadStatus struct {
	readyRedis, readySentinel, updatedRedis int32
	currentRevision, updateRevision         string
}

// observedChild turns a desired child into what the API server would return: the
// last-applied annotation Metacontroller writes, and workload status from the local pods.
func observedChild(child any, st workloadStatus) (key, name string, raw json.RawMessage, err error) {
	b, err := json.Marshal(child)
	if err != nil {
		return "", "", nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return "", "", nil, err
	}
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ = meta["name"].(string)
	if kind == "" || meta == nil {
		return "", "", nil, errors.New("a child without kind or metadata")
	}
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
	}
	annotations["metacontroller.k8s.io/last-applied-configuration"] = string(b)
	meta["annotations"] = annotations
	meta["generation"] = 1
	if spec, ok := obj["spec"].(map[string]any); ok {
		replicas, _ := spec["replicas"].(float64)
		switch kind {
		case "StatefulSet":
			obj["status"] = map[string]any{"observedGeneration": 1, "replicas": replicas,
				"readyReplicas": min(float64(st.readyRedis), replicas), "updatedReplicas": min(float64(st.updatedRedis), replicas),
				"currentRevision": st.currentRevision, "updateRevision": st.updateRevision}
		case "Deployment":
			obj["status"] = map[string]any{"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
				"readyReplicas": min(float64(st.readySentinel), replicas)}
		}
	}
	raw, err = json.Marshal(obj)
	return kind + "." + apiVersion, name, raw, err
}

// podObject is a pod as the API server would list it: a redis pod carries the revision it was
// created from, and a deletion timestamp while it is being replaced.
func podObject(p *Pod, namespace, rf string) (json.RawMessage, error) {
	ready := "False"
	if p.ready {
		ready = "True"
	}
	// A crashed process is a container restarting inside its pod: the pod keeps its IP.
	labels := hooks.SelectorLabels(rf, p.component)
	if p.revision != "" {
		labels[hooks.LabelRevision] = p.revision
	}
	meta := map[string]any{"name": p.name, "namespace": namespace, "labels": labels}
	if p.terminating {
		meta["deletionTimestamp"] = time.Now().UTC().Format(time.RFC3339)
	}
	return json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": meta,
		"status": map[string]any{"podIP": p.ip, "phase": "Running",
			"conditions": []map[string]string{{"type": "Ready", "status": ready}}},
	})
}

// renderedChild is the part of a rendered child that local mode reads. Children are read
// through JSON: a child is a typed object when just rendered, raw JSON when held as observed.
type renderedChild struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Data json.RawMessage `json:"data"`
	Spec struct {
		Template struct {
			Spec corev1.PodSpec `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// child returns the rendered child of that kind and name.
func (c *Cluster) child(kind, name string) (*renderedChild, error) {
	c.mu.Lock()
	children := c.children
	c.mu.Unlock()
	var r renderedChild
	found, err := findChild(children, kind, name, &r)
	if err == nil && !found {
		err = fmt.Errorf("the rendered children have no %s %s", kind, name)
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// findChild decodes into out the child of children with that kind and name, read through JSON:
// a child is a typed object when just rendered, raw JSON when held as observed. found is false
// when there is none.
func findChild(children []any, kind, name string, out any) (found bool, err error) {
	for _, ch := range children {
		b, err := json.Marshal(ch)
		if err != nil {
			return false, err
		}
		var id struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(b, &id); err != nil {
			return false, err
		}
		if id.Kind == kind && id.Metadata.Name == name {
			return true, json.Unmarshal(b, out)
		}
	}
	return false, nil
}

// childData returns a data key of the rendered ConfigMap or Secret name.
func (c *Cluster) childData(kind, name, key string) ([]byte, error) {
	r, err := c.child(kind, name)
	if err != nil {
		return nil, err
	}
	if kind == "Secret" { // base64 in JSON
		var data map[string][]byte
		if err := json.Unmarshal(r.Data, &data); err == nil && data[key] != nil {
			return data[key], nil
		}
	} else {
		var data map[string]string
		if err := json.Unmarshal(r.Data, &data); err == nil {
			if v, ok := data[key]; ok {
				return []byte(v), nil
			}
		}
	}
	return nil, fmt.Errorf("%s %s has no key %s", kind, name, key)
}

// readiness is the rendered readiness probe of a component's pods.
func (c *Cluster) readiness(component string) readinessProbe {
	kind, name := "StatefulSet", hooks.RedisName(c.parent.Name)
	if component == hooks.ComponentSentinel {
		kind, name = "Deployment", hooks.SentinelName(c.parent.Name)
	}
	out := readinessProbe{failureThreshold: 3} // the kubelet's default
	r, err := c.child(kind, name)
	if err != nil || len(r.Spec.Template.Spec.Containers) == 0 {
		return out
	}
	p := r.Spec.Template.Spec.Containers[0].ReadinessProbe
	out.argv = readinessExec(p)
	if p != nil && p.FailureThreshold > 0 {
		out.failureThreshold = p.FailureThreshold
	}
	return out
}

// preStop returns the exec command of the rendered preStop hook of a component, and the grace
// period that bounds it.
func (c *Cluster) preStop(component string) ([]string, time.Duration) {
	if component != hooks.ComponentRedis {
		return nil, 0
	}
	r, err := c.child("StatefulSet", hooks.RedisName(c.parent.Name))
	if err != nil || len(r.Spec.Template.Spec.Containers) == 0 {
		return nil, 0
	}
	grace := 30 * time.Second
	if g := r.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	lc := r.Spec.Template.Spec.Containers[0].Lifecycle
	if lc == nil || lc.PreStop == nil || lc.PreStop.Exec == nil {
		return nil, grace
	}
	return lc.PreStop.Exec.Command, grace
}

func (c *Cluster) cleanup() {
	if c.tempDir {
		if err := os.RemoveAll(c.dir); err != nil {
			c.log.Error().Err(err).Str("dir", c.dir).Msg("remove temporary files")
		}
	}
}

func (c *Cluster) printConnect() {
	rf := c.parent.WithDefaults()
	var b bytes.Buffer
	fmt.Fprintf(&b, "RedisFailover %s: %d redis, %d sentinels, files in %s\n", c.key(), len(c.redis), len(c.sentinel), c.dir)
	if len(c.sentinel) > 0 {
		addrs := make([]string, len(c.sentinel))
		for i, s := range c.sentinel {
			addrs[i] = s.Addr()
		}
		fmt.Fprintf(&b, "  sentinels:   %s  (master name %q)\n", strings.Join(addrs, " "), rf.Spec.Sentinel.MasterName)
		fmt.Fprintf(&b, "  try:         redis-cli -h %s -p %d sentinel get-master-addr-by-name %s\n",
			c.sentinel[0].ip, hooks.SentinelPort, rf.Spec.Sentinel.MasterName)
	}
	if c.cfg.MasterPort > 0 {
		fmt.Fprintf(&b, "  master port: 127.0.0.1:%d  (always the current master; try: redis-cli -p %d set k v)\n",
			c.cfg.MasterPort, c.cfg.MasterPort)
	}
	fmt.Fprintln(&b, "  Ctrl-C stops every process and removes the temporary files.")
	_, _ = c.out.Write(b.Bytes())
}
