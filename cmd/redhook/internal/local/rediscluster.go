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
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redhook/redhook/cmd/redhook/internal/manifest"
	"github.com/redhook/redhook/healer/rediscluster"
	"github.com/redhook/redhook/hooks"
)

// RedisCluster runs one RedisCluster (redhook.io/v1alpha1) as local redis-server processes in
// cluster mode, one per pod rdc-NAME-k-i on its own loopback address, through the same code as
// in Kubernetes: hooks.SyncClusterWithTopology renders redis.conf and gives the healer's
// topology, the Redis Cluster healer (healer/rediscluster) forms and heals the cluster, and its
// report feeds the next sync and the status printed.
//
// Unlike the RedisFailover path, edits of the files are not applied while it runs (a message
// asks to restart), the start script's wait of a new node is not run (a local pod keeps its
// address and its nodes.conf) and there is no master port or chaos.
type RedisCluster struct {
	cfg     Config
	out     io.Writer
	log     zerolog.Logger
	dir     string
	tempDir bool

	parent   hooks.RedisCluster // as read: namespace defaulted, validated
	secrets  map[string]json.RawMessage
	password string
	nodes    []*clusterNode
	healer   *rediscluster.Healer
	filesSum [32]byte

	mu       sync.Mutex
	conf     string // the rendered redis.conf
	status   hooks.RedisClusterStatus
	children []any // of the last response: observed by the next request
	report   rediscluster.Report
	last     rediscluster.Topology // the last topology that was not held
	shown    string
	table    string
	ok       bool // cluster_state ok was printed
}

// clusterNode is one pod of a RedisCluster: shard k's pod i.
type clusterNode struct {
	name           string
	shard, ordinal int
	ip             string
	dir            string
	proc           *process
}

// Addr is ip:6379.
func (n *clusterNode) Addr() string {
	return net.JoinHostPort(n.ip, fmt.Sprint(hooks.DefaultRedisPort))
}

// IsRedisCluster tells whether the -f files of cfg hold a RedisCluster (rather than a
// RedisFailover). Standard input ("-") is read here once and cfg.Stdin replaced by a copy, so
// that the runner can read it again.
func IsRedisCluster(cfg *Config) (bool, error) {
	if slices.Contains(cfg.Files, "-") && cfg.Stdin != nil {
		b, err := io.ReadAll(cfg.Stdin)
		if err != nil {
			return false, err
		}
		cfg.Stdin = bytes.NewReader(b)
		defer func() { cfg.Stdin = bytes.NewReader(b) }()
	}
	for _, f := range cfg.Files {
		docs, err := manifest.Read(f, cfg.Stdin)
		if err != nil {
			return false, err
		}
		for _, d := range docs {
			if d.Kind == hooks.ClusterKind {
				return true, nil
			}
		}
	}
	return false, nil
}

// NewRedisCluster reads and validates the RedisCluster of cfg's files and lays out its pods'
// addresses and directories; Run starts it.
func NewRedisCluster(cfg Config, out io.Writer, log zerolog.Logger) (*RedisCluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MasterPort != 0 {
		return nil, errors.New("--master-port: a RedisCluster has no single master; connect with a cluster client (redis-cli -c)")
	}
	cfg.BaseIP = cfg.BaseIP.To4()
	c := &RedisCluster{cfg: cfg, out: out, log: log}
	c.filesSum = sumFiles(cfg.Files)
	if err := c.readClusterInput(); err != nil {
		return nil, err
	}
	if err := c.layout(); err != nil {
		return nil, err
	}
	return c, nil
}

// readClusterInput reads the files: exactly one RedisCluster, validated (every problem with its
// field path), and the Secrets, with the password of spec.auth.secretPath.
func (c *RedisCluster) readClusterInput() error {
	var docs []manifest.Document
	for _, f := range c.cfg.Files {
		d, err := manifest.Read(f, c.cfg.Stdin)
		if err != nil {
			return err
		}
		docs = append(docs, d...)
	}
	c.secrets = map[string]json.RawMessage{}
	var parents []manifest.Document
	for _, d := range docs {
		switch d.Kind {
		case hooks.ClusterKind:
			parents = append(parents, d)
		case "Secret":
			s, key, err := manifest.NormalizeSecret(d.JSON)
			if err != nil {
				return fmt.Errorf("%s: %w", d.Source, err)
			}
			c.secrets[key] = s
		case hooks.Kind:
			return fmt.Errorf("%s: a RedisFailover and a RedisCluster in one run: run one redhook local for each", d.Source)
		}
	}
	if len(parents) != 1 {
		return fmt.Errorf("want exactly one RedisCluster in the input, found %d", len(parents))
	}
	src := parents[0].Source
	req, err := clusterFirstSync(parents[0].JSON, c.secrets)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	var problems []error
	if req.ParentError != nil {
		problems = append(problems, req.ParentError)
	}
	if errs := hooks.ValidateCluster(&req.Parent); len(errs) > 0 {
		problems = append(problems, errs)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: invalid RedisCluster: %w", src, errors.Join(problems...))
	}
	c.parent = req.Parent
	c.parent.UID = "local"
	c.parent.Generation = 1
	return c.readPassword()
}

// clusterFirstSync is the first sync request of a RedisCluster: no children, no pods, the
// Secrets of the input. A value of the wrong type is ParentError (with its path).
func clusterFirstSync(parent []byte, secrets map[string]json.RawMessage) (*hooks.ClusterSyncRequest, error) {
	var p map[string]any
	if err := json.Unmarshal(parent, &p); err != nil {
		return nil, err
	}
	meta, _ := p["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		p["metadata"] = meta
	}
	if ns, _ := meta["namespace"].(string); ns == "" {
		meta["namespace"] = "default" // what kubectl apply would use without -n
	}
	body, err := json.Marshal(map[string]any{"parent": p, "children": hooks.Objects{},
		"related": hooks.Objects{hooks.KeyPod: {}, hooks.KeySecret: secrets}})
	if err != nil {
		return nil, err
	}
	req, err := hooks.DecodeClusterSyncRequest(body)
	if err != nil {
		return nil, err
	}
	return &req, nil
}

// readPassword turns --password-file into the Secret spec.auth.secretPath names, and reads the
// password from that Secret.
func (c *RedisCluster) readPassword() error {
	pw, err := authPassword(c.secrets, c.parent.Namespace, c.parent.Spec.Auth.SecretPath, c.cfg.PasswordFile, "RedisCluster")
	c.password = pw
	return err
}

// layout gives every pod its address (BaseIP + k × pods per shard + i) and directory.
func (c *RedisCluster) layout() error {
	rc := c.parent.WithDefaults()
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
	perShard := 1
	if rc.Spec.ReplicationFactor != nil {
		perShard += int(*rc.Spec.ReplicationFactor)
	}
	for k := range int(rc.Spec.NumberOfMaster) {
		for i := range perShard {
			n := &clusterNode{name: hooks.ClusterPodName(rc.Name, k, i), shard: k, ordinal: i,
				ip: addIP(c.cfg.BaseIP, k*perShard+i).String()}
			n.dir = filepath.Join(c.dir, n.name)
			if err := os.MkdirAll(filepath.Join(n.dir, "data"), 0o700); err != nil {
				return err
			}
			c.nodes = append(c.nodes, n)
		}
	}
	return nil
}

func (c *RedisCluster) key() string { return c.parent.Namespace + "/" + c.parent.Name }

// Run starts every process and the healer, prints progress and status until ctx ends, then
// stops every process, waits for them, and removes the temporary files.
func (c *RedisCluster) Run(ctx context.Context) error {
	if _, err := exec.LookPath(c.cfg.RedisServer); err != nil {
		return fmt.Errorf("%s not found: install redis-server (make deps)", c.cfg.RedisServer)
	}
	defer c.cleanup()
	if err := c.sync(); err != nil {
		return err
	}
	c.healer = rediscluster.New(rediscluster.Config{Workers: 1}, c.log)
	var stops []func()
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}()
	stops = append(stops, background(func(ctx context.Context) { _ = c.healer.Run(ctx) }))
	for _, n := range c.nodes {
		n.proc = &process{name: n.name, argv: []string{c.cfg.RedisServer, filepath.Join(n.dir, "redis.conf")},
			logPath: filepath.Join(n.dir, "process.log"), log: c.log, prepare: func() error { return c.writeConf(n) }}
	}
	stops = append(stops, background(func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, n := range c.nodes {
			wg.Go(func() { n.proc.run(ctx, c.cfg.RestartDelay) })
		}
		wg.Wait()
	}), func() { fmt.Fprintln(c.out, "stopping every process…") })
	c.printConnect()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	edited := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := c.sync(); err != nil {
			c.log.Error().Err(err).Msg("sync")
		}
		if !edited && sumFiles(c.cfg.Files) != c.filesSum {
			edited = true
			fmt.Fprintln(c.out, "the files changed: edits of a RedisCluster are not applied while it runs; restart redhook local to apply them")
		}
	}
}

// sync builds the request Metacontroller would send (the pods with their addresses and
// readiness), calls hooks.SyncClusterWithTopology with the healer's report, hands the topology
// to the healer and shows what changed.
func (c *RedisCluster) sync() error {
	req, err := c.request()
	if err != nil {
		return err
	}
	var rep rediscluster.Report
	if c.healer != nil {
		rep = c.healer.Report(c.parent.Namespace, c.parent.Name)
	}
	resp, topo, ok := hooks.SyncClusterWithTopology(req, rep.ForSync())
	conf := ""
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if found, err := findChild(resp.Children, "ConfigMap", hooks.ClusterClientName(c.parent.Name), &cm); err != nil {
		return err
	} else if found {
		conf = cm.Data["redis.conf"]
	}
	c.mu.Lock()
	if ok {
		c.last = rediscluster.FromSync(topo, c.last)
	}
	last := c.last
	c.status, c.report, c.children = resp.Status, rep, resp.Children
	if conf != "" {
		c.conf = conf
	}
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("the RedisCluster is held: %s", clusterHeldReason(resp.Status))
	}
	if c.healer != nil { // the first sync, before the processes start, only renders
		c.healer.Track(last)
		c.show(resp.Status, rep)
	}
	return nil
}

// clusterHeldReason is the message of the first condition that says why.
func clusterHeldReason(s hooks.RedisClusterStatus) string {
	for _, cnd := range s.Conditions {
		if cnd.Message != "" && cnd.Status != metav1.ConditionTrue {
			return cnd.Message
		}
	}
	return "invalid spec or missing Secret"
}

// request is the sync request of this moment: the parent with its last status, the children of
// the last response as observed objects (a shard's StatefulSet with the readiness of its local
// pods, as its controller would report it; there is no rollout: edits are not applied), and the
// pods.
func (c *RedisCluster) request() (*hooks.ClusterSyncRequest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	req := &hooks.ClusterSyncRequest{Parent: *c.parent.DeepCopy(), Children: hooks.Objects{},
		Related: hooks.Objects{hooks.KeyPod: {}, hooks.KeySecret: c.secrets}}
	req.Parent.Status = c.status
	ready := map[string]bool{}
	perShard := map[string]workloadStatus{} // by StatefulSet name
	for _, n := range c.nodes {
		ready[n.name] = n.proc != nil && n.proc.running()
		sts := hooks.ClusterShardName(c.parent.Name, n.shard)
		w := perShard[sts]
		w.updatedRedis++
		if ready[n.name] {
			w.readyRedis++
		}
		perShard[sts] = w
	}
	ns := c.parent.Namespace
	for _, child := range c.children {
		var id struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		b, err := json.Marshal(child)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &id); err != nil {
			return nil, err
		}
		key, name, raw, err := observedChild(child, perShard[id.Metadata.Name])
		if err != nil {
			return nil, err
		}
		if req.Children[key] == nil {
			req.Children[key] = map[string]json.RawMessage{}
		}
		req.Children[key][ns+"/"+name] = raw
	}
	for _, n := range c.nodes {
		ready := map[bool]string{true: "True", false: "False"}[ready[n.name]]
		raw, err := json.Marshal(map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{"name": n.name, "namespace": c.parent.Namespace,
				"labels": hooks.ClusterShardLabels(c.parent.Name, n.shard)},
			"status": map[string]any{"podIP": n.ip, "phase": "Running",
				"conditions": []map[string]string{{"type": "Ready", "status": ready}}},
		})
		if err != nil {
			return nil, err
		}
		req.Related[hooks.KeyPod][c.parent.Namespace+"/"+n.name] = raw
	}
	return req, nil
}

// localOverrides are the settings of the rendered redis.conf that a local process replaces: its
// own address instead of every address, its own directory instead of the data volume, its log
// to standard output (the process log).
var localOverrides = map[string]bool{"bind": true, "dir": true, "cluster-config-file": true,
	"cluster-announce-ip": true, "logfile": true, "pidfile": true, "daemonize": true,
	"requirepass": true, "masterauth": true}

// writeConf writes the node's redis.conf: the rendered one without the settings that are the
// pod's own, then those, as the start command passes them (the password from the Secret). The
// file is the user's only (0600): it holds the password.
func (c *RedisCluster) writeConf(n *clusterNode) error {
	c.mu.Lock()
	rendered := c.conf
	c.mu.Unlock()
	if rendered == "" {
		return errors.New("no rendered redis.conf")
	}
	var b strings.Builder
	for line := range strings.Lines(rendered) {
		f := strings.Fields(line)
		if len(f) > 0 && localOverrides[strings.ToLower(f[0])] {
			b.WriteString("# (local) " + line)
			continue
		}
		b.WriteString(line)
	}
	data := filepath.Join(n.dir, "data")
	b.WriteString("# redhook local: this pod's own settings\n")
	fmt.Fprintf(&b, "bind %s\n", n.ip)
	fmt.Fprintf(&b, "dir %s\n", quoteConfig(data))
	fmt.Fprintf(&b, "cluster-config-file %s\n", quoteConfig(filepath.Join(data, "nodes.conf")))
	fmt.Fprintf(&b, "cluster-announce-ip %s\n", n.ip)
	b.WriteString("daemonize no\nlogfile \"\"\n")
	if c.password != "" {
		fmt.Fprintf(&b, "requirepass %s\nmasterauth %s\n", quoteConfig(c.password), quoteConfig(c.password))
	}
	return os.WriteFile(filepath.Join(n.dir, "redis.conf"), []byte(b.String()), 0o600)
}

// quoteConfig quotes a value for redis.conf as hooks does: double quotes, backslash, quote and
// every non-printable byte escaped.
func quoteConfig(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch == '\\' || ch == '"':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20 || ch >= 0x7f:
			fmt.Fprintf(&b, "\\x%02x", ch)
		default:
			b.WriteByte(ch)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// show prints one status line per change and the shard table when it changes, and once
// cluster_state is ok, how to connect.
func (c *RedisCluster) show(s hooks.RedisClusterStatus, rep rediscluster.Report) {
	line := clusterStatusLine(c.parent.Name, s)
	table := shardTable(rep)
	c.mu.Lock()
	lineChanged, tableChanged := line != c.shown, table != c.table
	c.shown, c.table = line, table
	firstOK := !c.ok && rep.ClusterState == "ok" && rep.SlotsAssigned == rediscluster.NumSlots
	c.ok = c.ok || firstOK
	c.mu.Unlock()
	if lineChanged {
		fmt.Fprintf(c.out, "%s %s\n", time.Now().Format("15:04:05.000"), line)
	}
	if tableChanged && !rep.Time.IsZero() {
		fmt.Fprint(c.out, table)
	}
	if firstOK {
		fmt.Fprintf(c.out, "cluster_state ok: try: redis-cli -c -h %s -p %d%s\n", c.nodes[0].ip, hooks.DefaultRedisPort, c.authHint())
	}
}

// authHint tells where the password is, never what it is.
func (c *RedisCluster) authHint() string {
	if c.password == "" {
		return ""
	}
	return fmt.Sprintf("  (with REDISCLI_AUTH set to the password of Secret %s)", c.parent.Spec.Auth.SecretPath)
}

// clusterStatusLine is NAME STATE SLOTS and the reason of every condition that is not as wished.
func clusterStatusLine(name string, s hooks.RedisClusterStatus) string {
	var b strings.Builder
	state := s.ClusterState
	if state == "" {
		state = "-"
	}
	fmt.Fprintf(&b, "%s cluster_state=%s slots=%d/%d", name, state, s.SlotsAssigned, rediscluster.NumSlots)
	if s.SlotsMigrating > 0 {
		fmt.Fprintf(&b, " migrating=%d", s.SlotsMigrating)
	}
	for _, cnd := range s.Conditions {
		want := metav1.ConditionTrue
		if cnd.Type == hooks.ConditionDegraded || cnd.Type == hooks.ConditionProgressing {
			want = metav1.ConditionFalse
		}
		fmt.Fprintf(&b, " %s=%s", cnd.Type, cnd.Status)
		if cnd.Status != want {
			fmt.Fprintf(&b, "(%s)", cnd.Reason)
		}
	}
	return b.String()
}

// shardTable lists the shards (master, replicas, slots) and the nodes that answer no one.
func shardTable(rep rediscluster.Report) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	fmt.Fprintln(w, "  SHARD\tMASTER\tREPLICAS\tSLOTS")
	for _, s := range rep.Shards {
		master := s.Master
		if master == "" {
			master = "-"
		}
		replicas := strings.Join(s.Replicas, ",")
		if replicas == "" {
			replicas = "-"
		}
		fmt.Fprintf(w, "  %d\t%s\t%s\t%d\n", s.Index, master, replicas, s.Slots)
	}
	for _, n := range rep.Nodes {
		if !n.Reachable {
			fmt.Fprintf(w, "  %d\t%s (%s) down\t\t\n", n.Shard, n.Pod, n.IP)
		}
	}
	w.Flush()
	return b.String()
}

// printConnect prints the layout and how to connect.
func (c *RedisCluster) printConnect() {
	rc := c.parent.WithDefaults()
	var b strings.Builder
	fmt.Fprintf(&b, "RedisCluster %s: %d shards of %d pods, files in %s\n", c.key(), rc.Spec.NumberOfMaster,
		len(c.nodes)/max(1, int(rc.Spec.NumberOfMaster)), c.dir)
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "  %s\t%s\n", n.name, n.Addr())
	}
	fmt.Fprintf(&b, "  connect:     redis-cli -c -h %s -p %d%s\n", c.nodes[0].ip, hooks.DefaultRedisPort, c.authHint())
	fmt.Fprintln(&b, "  Ctrl-C stops every process and removes the temporary files.")
	_, _ = io.WriteString(c.out, b.String())
}

// Report is the healer's last report (for tests and tools).
func (c *RedisCluster) Report() rediscluster.Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.report
}

// Addrs are the nodes' ip:port.
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Addr()
	}
	return out
}

// Dir is the directory of the pods' files.
func (c *RedisCluster) Dir() string { return c.dir }

func (c *RedisCluster) cleanup() {
	if c.tempDir {
		if err := os.RemoveAll(c.dir); err != nil {
			c.log.Error().Err(err).Str("dir", c.dir).Msg("remove temporary files")
		}
	}
}
