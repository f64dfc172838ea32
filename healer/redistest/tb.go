package redistest

import (
	"os"
	"os/exec"
	"time"
)

// TB is the part of testing.TB the harness uses; *testing.T and *testing.B satisfy it. It is
// declared here so that the package does not import "testing", which the redhook binary must
// not link.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Name() string
	Failed() bool
}

// Require skips the test when one of bins (redis-server and redis-sentinel when none is named)
// is not installed, except when the environment variable CI is set: CI installs them (make
// deps), so their absence there is a failure. A test that needs Redis must never pass silently
// in CI by skipping.
func Require(t TB, bins ...string) {
	t.Helper()
	if len(bins) == 0 {
		bins = []string{RedisServer, RedisSentinel}
	}
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is missing in CI (make deps installs it): %v", bin, err)
				return
			}
			t.Skipf("%s not installed (make deps, or apt-get install redis-server redis-sentinel)", bin)
			return
		}
	}
}

// WaitFor calls check every 50 ms until it returns nil, and returns how long that took. When
// timeout passes first, the test fails with what and the last error.
func WaitFor(t TB, timeout time.Duration, what string, check func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for {
		if err = check(); err == nil {
			return time.Since(start)
		}
		if time.Since(start) >= timeout {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %v", what, timeout, err)
	return 0
}
