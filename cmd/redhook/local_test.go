package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireRedis skips when redis-server is missing, except in CI where `make test` installs it.
func requireRedis(t *testing.T) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing in CI: make deps installs it", bin)
			}
			t.Skipf("%s not installed (make deps)", bin)
		}
	}
}

// localRun is a `redhook local` subprocess and what it printed.
type localRun struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []string
	dir  string
	done chan error
}

func (r *localRun) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.out...)
}

// waitFor returns the first printed line matching re, waiting up to limit.
func (r *localRun) waitFor(t *testing.T, re *regexp.Regexp, limit time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		for _, l := range r.lines() {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no line matching %s within %s; output:\n%s", re, limit, strings.Join(r.lines(), "\n"))
	return nil
}

func startLocal(t *testing.T, bin string, args ...string) *localRun {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"local"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	r := &localRun{cmd: cmd, done: make(chan error, 1)}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			r.mu.Lock()
			r.out = append(r.out, s.Text())
			r.mu.Unlock()
		}
	}()
	go func() { <-scanned; r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-r.done:
			case <-time.After(20 * time.Second):
				_ = cmd.Process.Kill()
			}
		}
	})
	return r
}

// processesOn lists the processes whose command line mentions prefix (a base address).
func processesOn(prefix string) []string {
	var found []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), prefix) {
			found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return found
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestLocalEndToEnd: redhook local converges, takes writes through Sentinel and through the
// master port, survives a SIGKILLed master, and leaves no process and no file behind on Ctrl-C.
func TestLocalEndToEnd(t *testing.T) {
	requireRedis(t)
	if testing.Short() {
		t.Skip("starts 6 redis processes")
	}
	bin := filepath.Join(t.TempDir(), "redhook")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, string(out))
	rf := filepath.Join(t.TempDir(), "rf.yaml")
	require.NoError(t, os.WriteFile(rf, []byte(`apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: e2e}
spec:
  sentinel:
    customConfig: ["down-after-milliseconds 2000"]
`), 0o600))
	port := freePort(t)
	const base = "127.0.30."
	run := startLocal(t, bin, "-f", rf, "--master-port", strconv.Itoa(port), "--base-ip", base+"1")
	dir := run.waitFor(t, regexp.MustCompile(`files in (\S+)`), 10*time.Second)[1]
	run.waitFor(t, regexp.MustCompile(`e2e master=\S+ .*Ready=True `), 60*time.Second)

	// Sentinel j lives at BASE+256+j: the next /24.
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.31.1:26379"},
		DisableCache: true, Sentinel: rueidis.SentinelOption{MasterSet: "mymaster"}})
	require.NoError(t, err)
	defer client.Close()
	ctx := context.Background()
	require.NoError(t, client.Do(ctx, client.B().Set().Key("via-sentinel").Value("1").Build()).Error())
	require.NoError(t, masterPortSet(port, "via-port", "1"))

	master := run.waitFor(t, regexp.MustCompile(`e2e master=(rfr-e2e-\d)\(`), time.Second)[1]
	pid, err := os.ReadFile(filepath.Join(dir, master, "process.pid"))
	require.NoError(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(pid)))
	require.NoError(t, err)
	killed := time.Now()
	require.NoError(t, syscall.Kill(n, syscall.SIGKILL))

	// Writes resume through Sentinel and through the master port.
	require.Eventually(t, func() bool {
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		return client.Do(cctx, client.B().Set().Key("after-kill").Value("1").Build()).Error() == nil
	}, 30*time.Second, 100*time.Millisecond, "no write through Sentinel after the master was killed; output:\n%s",
		strings.Join(run.lines(), "\n"))
	sentinelBack := time.Since(killed)
	require.Eventually(t, func() bool { return masterPortSet(port, "after-kill-port", "1") == nil },
		30*time.Second, 100*time.Millisecond, "no write through the master port after the master was killed")
	t.Logf("after SIGKILL of %s: Sentinel writes again after %s, master port after %s", master,
		sentinelBack.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	v, err := client.Do(ctx, client.B().Get().Key("via-sentinel").Build()).ToString()
	require.NoError(t, err)
	assert.Equal(t, "1", v, "a write acknowledged before the kill was lost")
	run.waitFor(t, regexp.MustCompile(`e2e master=(rfr-e2e-\d)\(.*redis=3/3 .*Ready=True `), 60*time.Second)

	// Ctrl-C: every process stops, the temporary directory is gone.
	require.NoError(t, run.cmd.Process.Signal(syscall.SIGINT))
	select {
	case err := <-run.done:
		assert.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("redhook local did not stop within 30 s of SIGINT")
	}
	assert.Empty(t, processesOn(base), "processes left behind")
	assert.Empty(t, processesOn("127.0.31."), "sentinels left behind")
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "temporary directory %s left behind", dir)
}

// masterPortSet writes through the master port with a plain RESP client.
func masterPortSet(port int, key, value string) error {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, respCommand("SET", key, value)); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+OK\r\n" {
		return fmt.Errorf("SET via the master port: %q", strings.TrimSpace(line))
	}
	return nil
}
