//go:build e2e

// Package e2e runs redhook in a real single-node Kubernetes that the tests start and stop
// themselves: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
// CoreDNS and containerd (runc, bridge CNI), all inside a network namespace of their own. redhook
// runs in the cluster as the kustomize manifests install it, from an image built from the
// repository's Dockerfile; a Metacontroller stand-in (manifests/internal/driver) calls it through
// its Service. See README.md ("End-to-end tests") for what the harness touches on the machine.
package e2e

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// innerEnv marks the copy of the test binary that runs inside the cluster's namespaces.
const innerEnv = "REDHOOK_E2E_INNER"

// skipReason says why the cluster is not running (tests then skip); empty when it runs.
var skipReason string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

// testMain runs in two processes. The outer one (the test binary go test starts) checks that
// the tests can run, removes what a killed earlier run left behind, and starts a copy of itself
// in a new network namespace and a new private mount namespace; that inner copy starts the
// cluster, runs the tests and stops it. When the inner copy ends, however it ends, the outer one
// removes everything (processes, cgroups, state directory) and restores the kernel settings.
func testMain(m *testing.M) int {
	flag.Parse()
	if os.Getenv(innerEnv) == "1" {
		return inner(m)
	}
	if reason := cannotRun(); reason != "" {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "e2e: %s\nCI is set: the end-to-end tests must run (make e2e-deps, as root)\n", reason)
			return 1
		}
		skipReason = reason
		return m.Run()
	}
	// One run at a time: a second run's clean-up would kill the first one's cluster.
	lock, err := os.OpenFile(stateDir()+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: another end-to-end run holds %s: one at a time\n", lock.Name())
		return 1
	}
	defer os.Remove(lock.Name())
	h := newHost()
	if err := h.cleanup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: remove what an earlier run left: %v\n", err)
		return 1
	}
	if err := h.prepare(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: prepare: %v\n", err)
		_ = h.cleanup()
		return 1
	}
	code := h.runInner()
	if err := h.cleanup(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: cleanup: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// testNames are the tests of this package: the cluster starts only when -test.run selects one.
var testNames = []string{"TestExamples", "TestFailover", "TestScaleAndEvict", "TestRollingUpdate", "TestDayTwo", "TestRedisCluster", "TestSentinelless"}

// cannotRun says why the end-to-end tests cannot run here, or "".
func cannotRun() string {
	if testing.Short() {
		return "-short: the end-to-end tests start a Kubernetes cluster"
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		re, err := regexp.Compile(strings.Split(f.Value.String(), "/")[0])
		if err == nil {
			any := false
			for _, n := range testNames {
				any = any || re.MatchString(n)
			}
			if !any {
				return "-run selects no end-to-end test"
			}
		}
	}
	if os.Geteuid() != 0 {
		return "not root: the end-to-end cluster needs root (namespaces, cgroups, mounts, containerd); run make e2e as root"
	}
	t, err := findTools()
	if err != nil {
		return fmt.Sprintf("%v (run make e2e-deps)", err)
	}
	_ = t
	return ""
}

// runInner starts this test binary again inside new network and mount namespaces and waits for
// it; SIGINT and SIGTERM are passed on.
func (h *host) runInner() int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	// Go makes the new mount namespace private (MS_REC|MS_PRIVATE on /): nothing mounted inside
	// shows outside, and it all goes away with the last process in it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS,
		Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start the cluster process: %v\n", err)
		return 1
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sig:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ee.ExitCode() < 0 {
					fmt.Fprintf(os.Stderr, "e2e: cluster process: %v\n", err)
					return 1
				}
				return ee.ExitCode()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "e2e: cluster process: %v\n", err)
				return 1
			}
			return 0
		}
	}
}

// stateDir is where the cluster keeps everything it writes: fixed, so that a run can find and
// remove what a killed run left.
func stateDir() string { return filepath.Join(os.TempDir(), "redhook-e2e") }

// needCluster returns the running cluster or skips.
func needCluster(t *testing.T) *cluster {
	t.Helper()
	if theCluster == nil {
		if skipReason == "" {
			skipReason = "the cluster did not start"
		}
		t.Skip(skipReason)
	}
	return theCluster
}
