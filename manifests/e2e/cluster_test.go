//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redhook/redhook/manifests/internal/driver"
)

// Addresses, all inside the cluster's network namespace and inside 198.18.0.0/15 (reserved for
// benchmarking, RFC 2544: no machine network uses it). The namespace has no interface that
// leads out: its only links are loopback, the node bridge (no port) and the pods' bridge.
const (
	nodeIP      = "198.18.0.2"
	nodeBridge  = "rh-node"
	podBridge   = "rh-cni0"
	podCIDR     = "198.18.64.0/18"
	podGateway  = "198.18.64.1"
	serviceCIDR = "198.19.0.0/16"
	nodeName    = "e2e-node"
	apiPort     = "6443"
)

// Images the cluster has without a registry (imported into containerd by the harness).
const (
	pauseImage   = "redhook.test/pause:e2e"
	redhookImage = "redhook.test/redhook:e2e"
	redisImage   = "redis:7.2.7" // hooks.DefaultRedisImage: the examples' image
)

// tools are the binaries the cluster runs.
type tools struct {
	bin         map[string]string // name → path
	kubeVersion string
}

var kubeBinaries = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// corednsVersion is the CoreDNS version testdata/tools/coredns requires (build.sh names the
// binary after it).
func corednsVersion() (string, error) {
	return requiredVersion("../../testdata/tools/coredns/go.mod", "github.com/coredns/coredns")
}

// findTools locates what `make e2e-deps` (testdata/tools/build.sh e2e) builds and installs.
func findTools() (tools, error) {
	t := tools{bin: map[string]string{}}
	var err error
	if t.kubeVersion, err = requiredVersion("../../testdata/tools/kube/go.mod", "k8s.io/kubernetes"); err != nil {
		return t, err
	}
	dns, err := corednsVersion()
	if err != nil {
		return t, err
	}
	cache := os.Getenv("REDHOOK_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return t, err
		}
		cache = filepath.Join(home, ".cache", "redhook")
	}
	var missing []string
	for _, b := range kubeBinaries {
		t.bin[b] = filepath.Join(cache, "bin", b+"-"+t.kubeVersion)
	}
	t.bin["coredns"] = filepath.Join(cache, "bin", "coredns-"+dns)
	for _, p := range t.bin {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, b := range []string{"etcd", "containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "conntrack",
		"ip", "busybox", "redis-server", "redis-cli", "ldd", "make"} {
		p, err := exec.LookPath(b)
		if err != nil {
			missing = append(missing, b)
		}
		t.bin[b] = p
	}
	for _, p := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return t, nil
}

// requiredVersion reads the version of module from the require lines of a go.mod file.
func requiredVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 3 && fields[0] == "require" && fields[1] == module {
			return fields[2], nil
		}
		if len(fields) == 2 && fields[0] == module {
			return fields[1], nil
		}
	}
	return "", fmt.Errorf("%s: no require line for %s", gomod, module)
}

// theCluster is the running cluster (inner process), nil when it is not running.
var theCluster *cluster

type cluster struct {
	tools      tools
	dir        string
	kubeconfig string
	client     *driver.Client
	procs      []*process
	// controller and clusterController are the Metacontroller stand-ins of the
	// CompositeControllers redhook (RedisFailover) and redhook-cluster (RedisCluster).
	controller, clusterController *driver.Controller
	stopDrivers                   []func()
	// rejected collects the children the API server refused during the run (renderer bugs).
	rejected chan error
}

// inner runs in the cluster's namespaces: start the cluster, run the tests, stop it.
func inner(m *testing.M) int {
	start := time.Now()
	t, err := findTools()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	c, err := startCluster(ctx, t)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start the cluster: %v\n", err)
		if c != nil {
			c.stop()
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "e2e: cluster up, redhook installed and ready in %.1fs\n", time.Since(start).Seconds())
	theCluster = c
	code := m.Run()
	stopStart := time.Now()
	c.stop()
	fmt.Fprintf(os.Stderr, "e2e: cluster stopped in %.1fs\n", time.Since(stopStart).Seconds())
	return code
}

// process is a started server whose exit is observed.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (c *cluster) start(name string, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(c.dir, "logs", name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// waitFor polls check every 200 ms until it succeeds, p exits or ctx ends.
func waitFor(ctx context.Context, p *process, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p != nil && p.exited() {
			return fmt.Errorf("%s exited: %v (last check: %w)\n%s", p.name, p.err, err, tail(p.log, 30))
		}
		select {
		case <-ctx.Done():
			if p != nil {
				return fmt.Errorf("%w (last check: %w)\n%s", ctx.Err(), err, tail(p.log, 30))
			}
			return fmt.Errorf("%w (last check: %w)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// sh runs a command and returns its standard output; the error carries standard error.
func sh(ctx context.Context, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// network sets up the namespace this process runs in: loopback, the node bridge carrying the
// node address, and a default route onto it (a bridge with no port: what is routed there goes
// nowhere). It records the namespace for the cleanup.
func (c *cluster) network(ctx context.Context) error {
	ns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "netns"), []byte(ns+"\n"), 0o600); err != nil {
		return err
	}
	ip := c.tools.bin["ip"]
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "add", nodeBridge, "type", "bridge"},
		{"addr", "add", nodeIP + "/32", "dev", nodeBridge},
		{"link", "set", nodeBridge, "up"},
		{"route", "add", "default", "dev", nodeBridge},
	} {
		if _, err := sh(ctx, ip, args...); err != nil {
			return err
		}
	}
	return nil
}

// mounts bind-mounts directories of the state directory over the fixed paths (private mount
// namespace: invisible outside, gone with the cluster).
func (c *cluster) mounts() error {
	for _, d := range fixedDirs {
		src := filepath.Join(c.dir, "fixed", strings.ReplaceAll(strings.TrimPrefix(d, "/"), "/", "_"))
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(src, d, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d, err)
		}
	}
	return nil
}

func startCluster(ctx context.Context, t tools) (c *cluster, err error) {
	c = &cluster{tools: t, dir: stateDir(), rejected: make(chan error, 100)}
	for _, d := range []string{"logs", "etcd", "certs", "cni/net.d", "cni/ipam", "containerd", "kubelet", "pv", "images"} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o755); err != nil {
			return c, err
		}
	}
	if err := c.network(ctx); err != nil {
		return c, fmt.Errorf("network: %w", err)
	}
	if err := c.mounts(); err != nil {
		return c, err
	}
	// Images are built while the control plane starts.
	images := make(chan error, 1)
	go func() { images <- c.buildImages(ctx) }()

	etcd, err := c.start("etcd", t.bin["etcd"], "--name", "e2e", "--data-dir", filepath.Join(c.dir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "e2e=http://127.0.0.1:2380", "--logger", "zap", "--log-level", "warn")
	if err != nil {
		return c, err
	}
	token, err := writeSecrets(c.dir)
	if err != nil {
		return c, err
	}
	certDir := filepath.Join(c.dir, "certs")
	saKey := filepath.Join(c.dir, "sa.key")
	apiserver, err := c.start("kube-apiserver", t.bin["kube-apiserver"],
		"--etcd-servers", "http://127.0.0.1:2379",
		"--bind-address", nodeIP, "--advertise-address", nodeIP, "--secure-port", apiPort,
		"--cert-dir", certDir,
		"--token-auth-file", filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode", "Node,RBAC",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", saKey, "--service-account-signing-key-file", saKey,
		"--service-cluster-ip-range", serviceCIDR,
		"--allow-privileged=true",
		"--kubelet-preferred-address-types", "InternalIP",
		"--profiling=false")
	if err != nil {
		return c, err
	}
	caFile := filepath.Join(certDir, "apiserver.crt")
	if err := waitFor(ctx, apiserver, func() error { _, err := os.Stat(caFile); return err }); err != nil {
		return c, err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return c, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	server := "https://" + nodeIP + ":" + apiPort
	c.client = driver.NewClient(server, token, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, server, caFile, token); err != nil {
		return c, err
	}

	if err := c.startContainerd(); err != nil {
		return c, err
	}
	if err := waitFor(ctx, apiserver, func() error {
		if etcd.exited() {
			return fmt.Errorf("etcd exited: %v\n%s", etcd.err, tail(etcd.log, 20))
		}
		return c.client.Ready(ctx)
	}); err != nil {
		return c, fmt.Errorf("kube-apiserver: %w", err)
	}
	if _, err := c.start("kube-controller-manager", t.bin["kube-controller-manager"],
		"--kubeconfig", c.kubeconfig, "--bind-address", "127.0.0.1", "--secure-port", "10257",
		"--service-account-private-key-file", saKey, "--root-ca-file", caFile,
		"--use-service-account-credentials=true", "--leader-elect=false"); err != nil {
		return c, err
	}
	if _, err := c.start("kube-scheduler", t.bin["kube-scheduler"], "--kubeconfig", c.kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", "10259", "--leader-elect=false"); err != nil {
		return c, err
	}
	if err := c.startKubelet(); err != nil {
		return c, err
	}
	if err := c.startKubeProxy(); err != nil {
		return c, err
	}
	if err := c.startCoreDNS(); err != nil {
		return c, err
	}
	if err := <-images; err != nil {
		return c, fmt.Errorf("images: %w", err)
	}
	if err := c.importImages(ctx); err != nil {
		return c, err
	}
	if err := c.waitNodeReady(ctx); err != nil {
		return c, err
	}
	if err := c.storage(ctx); err != nil {
		return c, err
	}
	if err := c.installRedhook(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// writeSecrets writes the static token file (one admin user in system:masters, used by every
// component and the tests) and the service-account key; it returns the token.
func writeSecrets(dir string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"),
		[]byte(token+`,e2e-admin,e2e-admin,"system:masters"`+"\n"), 0o600); err != nil {
		return "", err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return token, os.WriteFile(filepath.Join(dir, "sa.key"), pemKey, 0o600)
}

func writeKubeconfig(path, server, caFile, token string) error {
	return os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster: {server: %q, certificate-authority: %q}
users:
- name: admin
  user: {token: %q}
contexts:
- name: e2e
  context: {cluster: e2e, user: admin}
current-context: e2e
`, server, caFile, token)), 0o600)
}

func (c *cluster) containerdSocket() string {
	return filepath.Join(c.dir, "containerd", "containerd.sock")
}

func (c *cluster) startContainerd() error {
	root := filepath.Join(c.dir, "containerd")
	cni := filepath.Join(c.dir, "cni")
	conf := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[debug]
  level = "warn"
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = %[7]q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[8]q
`, filepath.Join(root, "root"), filepath.Join(root, "state"), c.containerdSocket(), filepath.Join(root, "ttrpc.sock"),
		filepath.Join(root, "opt"), pauseImage, filepath.Join(root, "runc"), filepath.Join(cni, "net.d"))
	confPath := filepath.Join(root, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	cniConf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "redhook-e2e",
  "plugins": [
    {
      "type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "dataDir": %q,
               "ranges": [[{"subnet": %q, "gateway": %q}]], "routes": [{"dst": "0.0.0.0/0"}]}
    }
  ]
}
`, podBridge, filepath.Join(cni, "ipam"), podCIDR, podGateway)
	if err := os.WriteFile(filepath.Join(cni, "net.d", "10-redhook-e2e.conflist"), []byte(cniConf), 0o644); err != nil {
		return err
	}
	_, err := c.start("containerd", c.tools.bin["containerd"], "--config", confPath)
	return err
}

func (c *cluster) startKubelet() error {
	dir := filepath.Join(c.dir, "kubelet")
	resolv := filepath.Join(c.dir, "resolv.conf")
	// Pods resolve through the cluster DNS only; nothing else is configured (no way out anyway).
	if err := os.WriteFile(resolv, []byte("# e2e cluster: no upstream resolver\n"), 0o644); err != nil {
		return err
	}
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %[1]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: /%[2]s
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%[3]s
clusterDNS: [%[1]s]
clusterDomain: cluster.local
resolvConf: %[4]s
serializeImagePulls: false
evictionHard: {memory.available: "100Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
syncFrequency: 10s
fileCheckFrequency: 10s
protectKernelDefaults: false
`, nodeIP, cgroupName, c.containerdSocket(), resolv)
	confPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	_, err := c.start("kubelet", c.tools.bin["kubelet"], "--config", confPath, "--kubeconfig", c.kubeconfig,
		"--root-dir", filepath.Join(dir, "root"), "--hostname-override", nodeName, "--node-ip", nodeIP,
		"--v", "1")
	return err
}

func (c *cluster) startKubeProxy() error {
	conf := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
bindAddress: %s
clusterCIDR: %s
nodePortAddresses: ["%s/32"]
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables:
  masqueradeAll: true
  localhostNodePorts: false
conntrack: {maxPerCore: 0, min: 0}
`, c.kubeconfig, nodeName, nodeIP, podCIDR, nodeIP)
	confPath := filepath.Join(c.dir, "kube-proxy.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	_, err := c.start("kube-proxy", c.tools.bin["kube-proxy"], "--config", confPath)
	return err
}

// keepPodLogs copies the logs of the pods that still exist (redhook's among them; those of
// deleted pods are gone with them) from the kubelet's log directory into dst, one file per
// container log, named after its directory.
func keepPodLogs(dst string) {
	const dir = "/var/log/pods"
	_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".log") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		_ = os.MkdirAll(dst, 0o755)
		_ = os.WriteFile(filepath.Join(dst, strings.ReplaceAll(rel, string(filepath.Separator), "_")), b, 0o644)
		return nil
	})
}

// startCoreDNS runs the cluster DNS on the node address (kubelet's clusterDNS), answering for
// cluster.local from the API server; every other name is refused.
func (c *cluster) startCoreDNS() error {
	corefile := fmt.Sprintf(`cluster.local:53 in-addr.arpa:53 {
    bind %s
    errors
    kubernetes cluster.local in-addr.arpa {
        kubeconfig %s e2e
        pods insecure
    }
}
`, nodeIP, c.kubeconfig)
	path := filepath.Join(c.dir, "Corefile")
	if err := os.WriteFile(path, []byte(corefile), 0o644); err != nil {
		return err
	}
	_, err := c.start("coredns", c.tools.bin["coredns"], "-conf", path)
	return err
}

func (c *cluster) importImages(ctx context.Context) error {
	archive := filepath.Join(c.dir, "images", "images.tar")
	_, err := sh(ctx, c.tools.bin["ctr"], "--address", c.containerdSocket(), "-n", "k8s.io", "images", "import",
		"--no-unpack=false", archive)
	if err != nil {
		// containerd may not listen yet.
		time.Sleep(time.Second)
		_, err = sh(ctx, c.tools.bin["ctr"], "--address", c.containerdSocket(), "-n", "k8s.io", "images", "import", archive)
	}
	return err
}

// kubectl runs the pinned kubectl against the cluster.
func (c *cluster) kubectl(ctx context.Context, args ...string) (string, error) {
	return sh(ctx, c.tools.bin["kubectl"], append([]string{"--kubeconfig", c.kubeconfig,
		"--cache-dir", filepath.Join(c.dir, "kubectl-cache")}, args...)...)
}

func (c *cluster) waitNodeReady(ctx context.Context) error {
	var kubelet *process
	for _, p := range c.procs {
		if p.name == "kubelet" {
			kubelet = p
		}
	}
	return waitFor(ctx, kubelet, func() error {
		out, err := c.kubectl(ctx, "get", "node", nodeName, "-o",
			`jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if out != "True" {
			return fmt.Errorf("node Ready=%q", out)
		}
		return nil
	})
}

// stop stops the driver and the components, newest first. Containers are not stopped one by
// one: the outer process kills what is left in the cluster's cgroups and removes them.
func (c *cluster) stop() {
	if dst := os.Getenv("REDHOOK_E2E_KEEP_LOGS"); dst != "" {
		keepPodLogs(filepath.Join(dst, "pods"))
	}
	for _, stop := range c.stopDrivers {
		stop()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	if c.client != nil {
		c.client.HTTP.CloseIdleConnections()
	}
	if os.Getenv("REDHOOK_E2E_KEEP_LOGS") != "" {
		dst := os.Getenv("REDHOOK_E2E_KEEP_LOGS")
		_ = os.MkdirAll(dst, 0o755)
		ents, _ := os.ReadDir(filepath.Join(c.dir, "logs"))
		for _, e := range ents {
			b, _ := os.ReadFile(filepath.Join(c.dir, "logs", e.Name()))
			_ = os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
		}
	}
}
