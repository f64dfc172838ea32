package manifests_test

// The test cluster: a real etcd (Debian's etcd-server) and a real kube-apiserver built pinned
// from k8s.io/kubernetes by `make kube-tools`, both on loopback ports, started once by TestMain
// and stopped (their data removed) when the tests end. There is no controller-manager, no
// scheduler and no kubelet: objects are stored and validated, nothing runs them. That is what
// the tests need — the API server's own validation of every object redhook ships or renders.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/redhook/redhook/manifests/internal/driver"
)

// cluster is the running test cluster; nil when the tools are missing (tests then skip, see
// TestMain).
var cluster *testCluster

// skipReason says why cluster is nil.
var skipReason string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	t, err := findTools()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "manifests: %v\nCI is set: missing tools are a failure (run make kube-tools)\n", err)
			return 1
		}
		skipReason = fmt.Sprintf("%v (run make kube-tools)", err)
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := startCluster(ctx, t)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "manifests: start the test cluster: %v\n", err)
		return 1
	}
	cluster = c
	code := m.Run()
	if err := c.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "manifests: stop the test cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// needCluster returns the test cluster, or skips the test when the tools are missing and CI is
// unset.
func needCluster(t *testing.T) *testCluster {
	t.Helper()
	if cluster == nil {
		t.Skip(skipReason)
	}
	return cluster
}

// tools are the binaries the tests run.
type tools struct {
	etcd, apiserver, kubectl, helm string
	kubeVersion, helmVersion       string
}

// findTools locates the binaries `make kube-tools` builds (testdata/tools/build.sh): their
// versions are the require lines of the two tools modules.
func findTools() (tools, error) {
	var t tools
	var err error
	if t.kubeVersion, err = requiredVersion("../testdata/tools/kube/go.mod", "k8s.io/kubernetes"); err != nil {
		return t, err
	}
	if t.helmVersion, err = requiredVersion("../testdata/tools/helm/go.mod", "helm.sh/helm/v3"); err != nil {
		return t, err
	}
	cache := os.Getenv("REDHOOK_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return t, fmt.Errorf("cache directory: %w", err)
		}
		cache = filepath.Join(home, ".cache", "redhook")
	}
	bin := filepath.Join(cache, "bin")
	t.apiserver = filepath.Join(bin, "kube-apiserver-"+t.kubeVersion)
	t.kubectl = filepath.Join(bin, "kubectl-"+t.kubeVersion)
	t.helm = filepath.Join(bin, "helm-"+t.helmVersion)
	var missing []string
	for _, p := range []string{t.apiserver, t.kubectl, t.helm} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if t.etcd, err = exec.LookPath("etcd"); err != nil {
		missing = append(missing, "etcd (Debian package etcd-server)")
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("missing test tools: %s", strings.Join(missing, ", "))
	}
	return t, nil
}

// requiredVersion reads the version of module from the require lines of a go.mod file.
func requiredVersion(gomod, module string) (string, error) {
	f, err := os.Open(gomod)
	if err != nil {
		return "", fmt.Errorf("read tools pin: %w", err)
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
	if err := s.Err(); err != nil {
		return "", fmt.Errorf("read %s: %w", gomod, err)
	}
	return "", fmt.Errorf("%s: no require line for %s", gomod, module)
}

// testCluster is a running etcd + kube-apiserver pair.
type testCluster struct {
	tools      tools
	dir        string // temporary: etcd data, certificates, logs, kubeconfig
	kubeconfig string
	client     *driver.Client
	procs      []*process // stopped in reverse order
}

// process is a started server whose exit is observed.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func startProcess(name, logPath string, bin string, args ...string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Dies with the test binary, even when it is killed by -timeout.
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

// stop sends SIGTERM, then SIGKILL after a grace period, and waits for the exit.
func (p *process) stop() error {
	if p.exited() {
		return fmt.Errorf("%s exited early: %v", p.name, p.err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		if err := p.cmd.Process.Kill(); err != nil {
			return fmt.Errorf("kill %s: %w", p.name, err)
		}
		<-p.done
	}
	return nil
}

// tail returns the last n lines of a log file, for error messages.
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

func startCluster(ctx context.Context, t tools) (c *testCluster, err error) {
	dir, err := os.MkdirTemp("", "redhook-kube-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	c = &testCluster{tools: t, dir: dir}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.stop())
		}
	}()
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = redistest.FreePort(); err != nil {
			return c, err
		}
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	etcd, err := startProcess("etcd", filepath.Join(dir, "etcd.log"), t.etcd,
		"--name", "redhook-test",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "redhook-test="+peerURL,
		"--logger", "zap", "--log-level", "warn")
	if err != nil {
		return c, err
	}
	c.procs = append(c.procs, etcd)

	token, err := writeAPIServerFiles(dir)
	if err != nil {
		return c, err
	}
	certDir := filepath.Join(dir, "certs")
	server := "https://127.0.0.1:" + strconv.Itoa(ports[2])
	apiserver, err := startProcess("kube-apiserver", filepath.Join(dir, "kube-apiserver.log"), t.apiserver,
		"--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[2]),
		"--cert-dir", certDir,
		"--token-auth-file", filepath.Join(dir, "tokens.csv"),
		"--authorization-mode", "RBAC", // the token's user is in system:masters
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(dir, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range", "10.96.0.0/16",
		// Real clusters (kubeadm, kind, GKE) allow privileged containers; so must the test.
		"--allow-privileged=true",
		// The default "lease" reconciler refuses a loopback advertise address.
		"--endpoint-reconciler-type=none",
		"--profiling=false")
	if err != nil {
		return c, err
	}
	c.procs = append(c.procs, apiserver)

	// The API server writes its self-signed serving certificate (followed by its CA) on start.
	caFile := filepath.Join(certDir, "apiserver.crt")
	if err := waitFor(ctx, apiserver, func() error {
		_, err := os.Stat(caFile)
		return err
	}); err != nil {
		return c, fmt.Errorf("serving certificate: %w\n%s", err, tail(apiserver.log, 30))
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return c, fmt.Errorf("read serving certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return c, fmt.Errorf("%s: no certificate", caFile)
	}
	c.client = driver.NewClient(server, token, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err := waitFor(ctx, apiserver, func() error {
		if etcd.exited() {
			return fmt.Errorf("etcd exited: %v\n%s", etcd.err, tail(etcd.log, 30))
		}
		return c.client.Ready(ctx)
	}); err != nil {
		return c, fmt.Errorf("kube-apiserver /readyz: %w\n%s", err, tail(apiserver.log, 30))
	}
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, server, caFile, token); err != nil {
		return c, err
	}
	return c, nil
}

// waitFor polls check until it succeeds, the process exits or ctx ends.
func waitFor(ctx context.Context, p *process, check func() error) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("%s exited: %v (last check: %w)", p.name, p.err, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last check: %w)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// writeAPIServerFiles writes the static token file (one admin user in system:masters) and the
// service-account signing key, and returns the token.
func writeAPIServerFiles(dir string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	token := hex.EncodeToString(b)
	tokens := token + `,redhook-test-admin,redhook-test-admin,"system:masters"` + "\n"
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"), []byte(tokens), 0o600); err != nil {
		return "", fmt.Errorf("token file: %w", err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("service-account key: %w", err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), pemKey, 0o600); err != nil {
		return "", fmt.Errorf("service-account key: %w", err)
	}
	return token, nil
}

func writeKubeconfig(path, server, caFile, token string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
`, server, caFile, token)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	return nil
}

// stop stops the API server, then etcd, and removes every file they wrote.
func (c *testCluster) stop() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	c.procs = nil
	if c.client != nil {
		c.client.HTTP.CloseIdleConnections()
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove %s: %w", c.dir, err))
	}
	return errors.Join(errs...)
}

// kubectl runs the pinned kubectl against the test cluster and returns its standard output.
func (c *testCluster) kubectl(ctx context.Context, args ...string) (string, error) {
	// Its discovery cache goes with the cluster, not into $HOME/.kube.
	return run(ctx, c.tools.kubectl, append([]string{"--kubeconfig", c.kubeconfig,
		"--cache-dir", filepath.Join(c.dir, "kubectl-cache")}, args...)...)
}

// run runs a command and returns its standard output; the error carries standard error.
func run(ctx context.Context, bin string, args ...string) (string, error) {
	return runEnv(ctx, nil, bin, args...)
}

// runEnv is run with extra environment variables.
func runEnv(ctx context.Context, env []string, bin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}
