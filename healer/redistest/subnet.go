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

// The subnets handed out: 127.0.180.0 to 127.0.254.0. Lower ones are left to people trying
// redhook local (127.0.10.0 and 127.0.11.0 by default).
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
	return Subnets(t, 1)
}

// Subnets claims n consecutive subnets as Subnet claims one (for a runner that puts its
// sentinels on the /24 after its redis pods, as redhook local does) and returns the first.
func Subnets(t TB, n int) int {
	t.Helper()
	cursor.Lock()
	defer cursor.Unlock()
	size := lastSubnet - firstSubnet + 1
	for i := 0; i < size; i++ {
		first := firstSubnet + (cursor.next+i)%size
		if first+n-1 > lastSubnet {
			continue
		}
		files, err := claimAll(first, n)
		if err != nil {
			t.Fatalf("claim loopback subnets from 127.0.%d.0: %v", first, err)
			return 0
		}
		if files == nil {
			continue
		}
		cursor.next = (first + n - firstSubnet) % size
		t.Cleanup(func() { // closing the descriptors releases the flocks
			for _, f := range files {
				f.Close()
			}
		})
		return first
	}
	t.Fatalf("no %d free loopback subnets in 127.0.%d.0 to 127.0.%d.0", n, firstSubnet, lastSubnet)
	return 0
}

// claimAll claims subnets first..first+n-1, or none of them (nil) when one is taken.
func claimAll(first, n int) ([]*os.File, error) {
	var files []*os.File
	release := func() {
		for _, f := range files {
			f.Close()
		}
	}
	for s := first; s < first+n; s++ {
		f, err := claim(s)
		if err != nil || f == nil {
			release()
			return nil, err
		}
		files = append(files, f)
	}
	return files, nil
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
