// Package local runs a RedisFailover as local redis-server and redis-sentinel processes through
// the same code as in a cluster (`redhook local`), and lets load tools kill its processes and
// watch its status (see docs/architecture.md, "Local mode").
package local

import (
	"bytes"
	"context"
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

	parent   hooks.RedisFailover
	secrets  map[string]json.RawMessage
	password string
	redis    []*Pod
	sentinel []*Pod
	pool     *healer.Pool
	fwd      *forwarder
	wake     chan struct{}

	mu       sync.Mutex
	children []any
	status   hooks.RedisFailoverStatus
	report   hooks.HealerReport
	shown    string
	table    string
}

// Pod is one pod: its address, its files and its process.
type Pod struct {
	name      string
	component string
	ip        string
	port      int32
	dir       string
	proc      *process // set before the processes start, then never changed
	ready     bool
}

// New reads the RedisFailover of cfg and lays out its pods' addresses and directories; Run
// starts it.
func New(cfg Config, out io.Writer, log zerolog.Logger) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.BaseIP = cfg.BaseIP.To4()
	var docs []manifest.Document
	for _, f := range cfg.Files {
		d, err := manifest.Read(f, cfg.Stdin)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	c := &Cluster{cfg: cfg, out: out, log: log, secrets: map[string]json.RawMessage{},
		wake: make(chan struct{}, 1)}
	var parents []manifest.Document
	for _, d := range docs {
		switch d.Kind {
		case hooks.Kind:
			parents = append(parents, d)
		case "Secret":
			s, key, err := manifest.NormalizeSecret(d.JSON)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", d.Source, err)
			}
			c.secrets[key] = s
		}
	}
	if len(parents) != 1 {
		return nil, fmt.Errorf("want exactly one RedisFailover in the input, found %d", len(parents))
	}
	req, err := manifest.FirstSync(parents[0].JSON, c.secrets)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", parents[0].Source, err)
	}
	c.parent = req.Parent
	c.parent.UID = "local"
	c.parent.Generation = 1
	if errs := hooks.Validate(&c.parent); len(errs) > 0 || req.ParentError != nil {
		return nil, fmt.Errorf("%s: invalid RedisFailover: %v", parents[0].Source, errors.Join(req.ParentError, errs))
	}
	if err := c.addPasswordFile(); err != nil {
		return nil, err
	}
	if err := c.layout(); err != nil {
		return nil, err
	}
	return c, nil
}

// addPasswordFile turns --password-file into the auth Secret the spec names.
func (c *Cluster) addPasswordFile() error {
	name := c.parent.Spec.Auth.SecretPath
	if c.cfg.PasswordFile != "" {
		if name == "" {
			return errors.New("--password-file given, but the RedisFailover sets no spec.auth.secretPath")
		}
		pw, err := readPasswordFile(c.cfg.PasswordFile)
		if err != nil {
			return err
		}
		b, err := json.Marshal(map[string]any{"metadata": map[string]string{"name": name, "namespace": c.parent.Namespace},
			"data": map[string][]byte{"password": []byte(pw)}})
		if err != nil {
			return err
		}
		c.secrets[c.parent.Namespace+"/"+name] = b
	}
	if name == "" {
		return nil
	}
	raw, ok := c.secrets[c.parent.Namespace+"/"+name]
	if !ok {
		return fmt.Errorf("spec.auth.secretPath names Secret %q: add it to the file or pass --password-file", name)
	}
	var s struct {
		Data map[string][]byte `json:"data"`
	}
	if err := json.Unmarshal(raw, &s); err != nil || len(s.Data["password"]) == 0 {
		return fmt.Errorf("auth secret %q has no key \"password\"", name)
	}
	c.password = string(s.Data["password"])
	return nil
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
	if b := rf.Spec.BootstrapNode; b == nil || b.AllowSentinels {
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
	pool, err := healer.NewPool(healer.Config{Workers: 2}, c.log)
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
// the last response as observed objects, the pods with their addresses and readiness.
func (c *Cluster) request() (*hooks.SyncRequest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := &hooks.SyncRequest{Parent: *c.parent.DeepCopy(), Children: hooks.Objects{},
		Related: hooks.Objects{hooks.KeyPod: {}, hooks.KeySecret: c.secrets}}
	req.Parent.Status = c.status
	for _, child := range c.children {
		key, name, raw, err := observedChild(child, c.readyCount(hooks.ComponentRedis), c.readyCount(hooks.ComponentSentinel))
		if err != nil {
			return nil, err
		}
		if req.Children[key] == nil {
			req.Children[key] = map[string]json.RawMessage{}
		}
		req.Children[key][c.parent.Namespace+"/"+name] = raw
	}
	for _, p := range c.pods() {
		raw, err := podObject(p, c.parent.Namespace, c.parent.Name)
		if err != nil {
			return nil, err
		}
		req.Related[hooks.KeyPod][c.parent.Namespace+"/"+p.name] = raw
	}
	return req, nil
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

// observedChild turns a desired child into what the API server would return: the
// last-applied annotation Metacontroller writes, and workload status from the local pods.
func observedChild(child any, readyRedis, readySentinel int32) (key, name string, raw json.RawMessage, err error) {
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
	if spec, ok := obj["spec"].(map[string]any); ok && (kind == "StatefulSet" || kind == "Deployment") {
		replicas, _ := spec["replicas"].(float64)
		ready := readyRedis
		if kind == "Deployment" {
			ready = readySentinel
		}
		obj["status"] = map[string]any{"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
			"readyReplicas": min(float64(ready), replicas)}
	}
	raw, err = json.Marshal(obj)
	return kind + "." + apiVersion, name, raw, err
}

// podObject is a pod as the API server would list it.
func podObject(p *Pod, namespace, rf string) (json.RawMessage, error) {
	ready := "False"
	if p.ready {
		ready = "True"
	}
	// A crashed process is a container restarting inside its pod: the pod keeps its IP.
	labels := hooks.SelectorLabels(rf, p.component)
	return json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": p.name, "namespace": namespace, "labels": labels},
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
	for _, ch := range children {
		b, err := json.Marshal(ch)
		if err != nil {
			return nil, err
		}
		var r renderedChild
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		if r.Kind == kind && r.Metadata.Name == name {
			return &r, nil
		}
	}
	return nil, fmt.Errorf("the rendered children have no %s %s", kind, name)
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

// probeCommand returns the exec command of the rendered readiness probe of a component.
func (c *Cluster) probeCommand(component string) []string {
	kind, name := "StatefulSet", hooks.RedisName(c.parent.Name)
	if component == hooks.ComponentSentinel {
		kind, name = "Deployment", hooks.SentinelName(c.parent.Name)
	}
	r, err := c.child(kind, name)
	if err != nil || len(r.Spec.Template.Spec.Containers) == 0 {
		return nil
	}
	return readinessExec(r.Spec.Template.Spec.Containers[0].ReadinessProbe)
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
