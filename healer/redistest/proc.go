package redistest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/rueidis"
)

// The binaries a Proc runs.
const (
	RedisServer   = "redis-server"
	RedisSentinel = "redis-sentinel"
)

// logName is the file, in a Proc's directory, that receives the process's output: the process
// logs to stdout (no logfile line in its config), so that what it prints before it reads its
// config, such as a config error, is captured too.
const logName = "log"

// Proc is one redis-server or redis-sentinel process on a loopback address. Its directory (a
// new directory of t.TempDir()) holds its config file, its data and its log. It is killed,
// with its process group, at the test's cleanup.
type Proc struct {
	Name string
	Bin  string // RedisServer or RedisSentinel
	IP   string
	Port int
	Dir  string
	// Conf is the config file's contents, written at every Start: a restart comes back with
	// it, not with what the process rewrote (as a container whose config is rendered at
	// start). Set it from the test's goroutine while the process is stopped.
	Conf string
	// Password authenticates the harness's own client (Client, Do).
	Password string

	t TB

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited and been reaped
	client rueidis.Client
}

// NewProc prepares bin (RedisServer or RedisSentinel) on ip:port, which must be a loopback
// address, with the base config of RedisConf or SentinelConf; it does not start it. It
// skips or fails the test as Require does when bin is missing.
func NewProc(t TB, bin, name, ip string, port int) *Proc {
	t.Helper()
	Require(t, bin)
	if addr := net.ParseIP(ip); addr == nil || !addr.IsLoopback() {
		t.Fatalf("%s: %q is not a loopback address: the harness talks to nothing else", name, ip)
		return nil
	}
	if bin != RedisServer && bin != RedisSentinel {
		t.Fatalf("%s: binary %q is neither %s nor %s", name, bin, RedisServer, RedisSentinel)
		return nil
	}
	// TempDir registers its removal before the cleanup below registers the kill: cleanups run
	// last-in first-out, so the process is gone before its directory is removed.
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("%s: data directory: %v", name, err)
		return nil
	}
	p := &Proc{Name: name, Bin: bin, IP: ip, Port: port, Dir: dir, t: t}
	if p.Sentinel() {
		p.Conf = SentinelConf(p)
	} else {
		p.Conf = RedisConf(p)
	}
	t.Cleanup(p.cleanup)
	return p
}

// Sentinel tells whether p runs redis-sentinel.
func (p *Proc) Sentinel() bool { return p.Bin == RedisSentinel }

// Addr is host:port.
func (p *Proc) Addr() string { return net.JoinHostPort(p.IP, strconv.Itoa(p.Port)) }

// LogPath is the file the process's output goes to.
func (p *Proc) LogPath() string { return filepath.Join(p.Dir, logName) }

// confPath is the config file: a sentinel rewrites it, so it lives in the data directory.
func (p *Proc) confPath() string {
	if p.Sentinel() {
		return filepath.Join(p.Dir, "sentinel.conf")
	}
	return filepath.Join(p.Dir, "redis.conf")
}

// Pid is the process's id, which is also its process group's; 0 when it is not running.
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running tells whether the process was started and not killed since. It does not notice a
// process that died by itself.
func (p *Proc) Running() bool { return p.Pid() != 0 }

// Start writes Conf and starts the process, then waits until it accepts connections (10 s at
// most). The test fails, with the process's log, when it exits meanwhile.
func (p *Proc) Start() {
	t := p.t
	t.Helper()
	if p.Running() {
		t.Fatalf("start %s: already running", p.Name)
		return
	}
	if err := os.WriteFile(p.confPath(), []byte(p.Conf), 0o600); err != nil {
		t.Fatalf("start %s: write config: %v", p.Name, err)
		return
	}
	logFile, err := os.OpenFile(p.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("start %s: open log: %v", p.Name, err)
		return
	}
	cmd := exec.Command(p.Bin, p.confPath())
	cmd.Dir = p.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile // an *os.File: handed to the child, no copying goroutine
	// Own process group: Kill signals the group, so that a fork (replication, BGSAVE) dies
	// with its parent instead of holding the port and the data directory. Pdeathsig kills the
	// process if the test binary dies without running its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logFile.Close() // the child has its own descriptor
	if err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
		return
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed on purpose most of the time: the exit status says nothing
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			p.mu.Lock()
			p.cmd, p.done = nil, nil // reaped: its group id may be reused, so it is not signalled
			p.mu.Unlock()
			t.Fatalf("%s exited at start:\n%s", p.Name, p.tail(30))
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s within 10 s: %v\n%s", p.Name, p.Addr(), err, p.tail(30))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL to the process group and returns once the process has exited and no
// other member of its group (a fork) is left. Killing a stopped process is fine; killing one
// that is not running does nothing.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd, p.done = nil, nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // the group may be gone already
	<-done
	// The fork got the same SIGKILL, but it is not our child: wait until it is gone, so that
	// it holds neither the port nor the data directory when the next Start comes.
	deadline := time.Now().Add(5 * time.Second)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			p.t.Logf("%s: process group %d still has live members 5 s after SIGKILL", p.Name, pgid)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Signal sends sig to the process (not its group): SIGSTOP freezes it as a stuck host would,
// SIGCONT resumes it.
func (p *Proc) Signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		p.t.Fatalf("signal %s: not running", p.Name)
		return
	}
	if err := cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v to %s: %v", sig, p.Name, err)
	}
}

// Restart kills the process and starts it again with Conf, on the data it left.
func (p *Proc) Restart() {
	p.t.Helper()
	p.Kill()
	p.Start()
}

// Wipe removes everything in the process's directory but its log, as a restart on an empty
// volume would find it. The process must be stopped.
func (p *Proc) Wipe() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("wipe %s: still running (kill it first)", p.Name)
		return
	}
	entries, err := os.ReadDir(p.Dir)
	if err != nil {
		p.t.Fatalf("wipe %s: %v", p.Name, err)
		return
	}
	for _, e := range entries {
		if e.Name() == logName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(p.Dir, e.Name())); err != nil {
			p.t.Fatalf("wipe %s: %v", p.Name, err)
			return
		}
	}
}

// cleanup runs at the end of the test: kill, close the client, keep the log.
func (p *Proc) cleanup() {
	p.Kill()
	p.mu.Lock()
	client := p.client
	p.client = nil
	p.mu.Unlock()
	if client != nil {
		client.Close()
	}
	p.keepLog()
}

// keepLog keeps the current behaviour of the healer's tests: when REDHOOK_TEST_LOGS=DIR is set,
// the whole log is copied to DIR/<test>/<name>.log, for every test, failed or not, so that a run
// can be read after t.TempDir is gone; otherwise a failed test prints the log's last lines.
func (p *Proc) keepLog() {
	dir := os.Getenv("REDHOOK_TEST_LOGS")
	if dir == "" {
		if p.t.Failed() {
			p.t.Logf("last lines of %s's log (set REDHOOK_TEST_LOGS=DIR to keep them whole):\n%s", p.Name, p.tail(15))
		}
		return
	}
	log, err := os.ReadFile(p.LogPath())
	if errors.Is(err, os.ErrNotExist) {
		return // never started
	}
	if err == nil {
		err = keepFile(p.t, dir, p.Name+".log", log)
	}
	if err != nil {
		p.t.Logf("keep %s's log: %v", p.Name, err)
	}
}

// keepFile writes data to dir/<test name>/name.
func keepFile(t TB, dir, name string, data []byte) error {
	out := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, name), data, 0o644)
}

// tail is the last n lines of the log.
func (p *Proc) tail(n int) string {
	log, err := os.ReadFile(p.LogPath())
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// groupAlive tells whether process group pgid has a member that is not a zombie. A zombie
// cannot hold a port or write a file, and a fork killed with its parent is reparented to
// whatever reaps orphans here, which may take its time or never do it.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return len(groupMembers(pgid)) > 0
}

// groupMembers lists the live (not zombie) processes of group pgid, from /proc.
func groupMembers(pgid int) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so read after
		// the last ')'.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if g, err := strconv.Atoi(f[2]); err == nil && g == pgid {
			pids = append(pids, pid)
		}
	}
	return pids
}
