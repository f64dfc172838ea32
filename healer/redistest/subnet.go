package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// The subnets handed out: 127.0.180.0 to 127.0.254.0. Lower ones are left to tests that pick
// their own addresses (cmd/redhook's local test uses 127.0.30.0 and 127.0.31.0).
const (
	firstSubnet = 180
	lastSubnet  = 254
)

// cursor is where the next search starts: subnets are handed out round-robin, so that a subnet
// released by a test is not reused at once, while connections to its old processes may still
// be closing.
var cursor struct {
	sync.Mutex
	next int
}

// Subnet returns a third octet x such that no other test uses 127.0.x.0/24 until this test
// ends: neither in this process nor in another test process running at the same time (a
// developer's second `go test`, or `go test ./...` running packages in parallel). Each subnet is
// claimed with an flock on a file in os.TempDir(), held until the test's cleanup. An flock is
// held by an open file description, so two claims in one process exclude each other as two
// processes do, and a crashed test process releases its claims with its descriptors.
func Subnet(t TB) int {
	t.Helper()
	cursor.Lock()
	defer cursor.Unlock()
	n := lastSubnet - firstSubnet + 1
	for i := 0; i < n; i++ {
		s := firstSubnet + (cursor.next+i)%n
		f, err := claim(s)
		if err != nil {
			t.Fatalf("claim loopback subnet 127.0.%d.0: %v", s, err)
			return 0
		}
		if f == nil {
			continue
		}
		cursor.next = (s - firstSubnet + 1) % n
		t.Cleanup(func() { f.Close() }) // closing the descriptor releases the flock
		return s
	}
	t.Fatalf("every loopback subnet 127.0.%d.0 to 127.0.%d.0 is taken", firstSubnet, lastSubnet)
	return 0
}

// lockPath is the lock file of subnet s. The name is the one the healer's tests used before
// this package, so that old and new tests running at once still exclude each other.
func lockPath(s int) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("redhook-test-127.0.%d.lock", s))
}

// claim takes subnet s's lock without waiting: the open file holding it, or nil when someone
// else holds it.
func claim(s int) (*os.File, error) {
	f, err := os.OpenFile(lockPath(s), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil
		}
		return nil, fmt.Errorf("flock: %w", err)
	}
	return f, nil
}

// FreePort returns a TCP port on 127.0.0.1 that nobody listens on right now (the kernel's
// choice). Another process may take it before the caller binds it: use it for listeners the
// test starts at once.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
