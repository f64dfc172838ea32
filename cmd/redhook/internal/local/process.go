package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// process is one supervised redis-server or redis-sentinel: started, restarted after a delay
// when it dies (what a kubelet does for a container), stopped when its context ends.
type process struct {
	name    string
	argv    []string
	logPath string
	// prepare runs before every start: it writes the files the process reads.
	prepare func() error
	log     zerolog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd
	held     bool // not restarted while held (a host that is gone)
	starts   int
	onChange func()
}

// run starts the process and restarts it after delay whenever it exits, until ctx ends; then it
// stops it with SIGTERM (SIGKILL after 5 s) and returns once it has exited.
func (p *process) run(ctx context.Context, delay time.Duration) {
	for {
		if !p.isHeld() {
			if started, err := p.start(); err != nil {
				p.log.Error().Err(err).Str("pod", p.name).Msg("start failed")
			} else if started {
				p.wait(ctx)
			}
		}
		wait := delay
		if p.isHeld() {
			wait = max(delay, heldPoll) // a held process must not spin with a zero delay
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// heldPoll is how often a held process checks whether it was released.
const heldPoll = 100 * time.Millisecond

// start starts the process unless it is held; started is false when it was held meanwhile.
func (p *process) start() (started bool, err error) {
	if p.prepare != nil {
		if err := p.prepare(); err != nil {
			return false, fmt.Errorf("prepare %s: %w", p.name, err)
		}
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return false, err
	}
	defer logFile.Close()
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a Ctrl-C on the terminal reaches redhook only, which stops the children
	// itself; Pdeathsig takes them down if redhook itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Held, checked and started under one lock: once hold returns, either the process runs (and
	// the holder stops it) or it does not start until release — a pod being replaced never has
	// a process start on its old files or data.
	p.mu.Lock()
	if p.held {
		p.mu.Unlock()
		return false, nil
	}
	err = cmd.Start()
	if err == nil {
		p.cmd = cmd
		p.starts++
	}
	p.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("start %s: %w", p.name, err)
	}
	p.changed()
	return true, nil
}

// wait returns when the process exits; when ctx ends first, it stops the process.
func (p *process) wait(ctx context.Context) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		p.log.Debug().Str("pod", p.name).AnErr("exit", err).Msg("process exited")
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	p.changed()
}

// kill sends SIGKILL to the running process, as an OOM kill would; hold keeps it down until
// release (a host that is gone).
func (p *process) kill(hold bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hold {
		p.held = true
	}
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New(p.name + " is not running")
	}
	return p.cmd.Process.Kill()
}

// signal sends sig to the running process.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New(p.name + " is not running")
	}
	return p.cmd.Process.Signal(sig)
}

// signalStart sends sig to the process of the starts-th start if it still runs; nothing when it
// exited (or another start runs since): a container that stopped is not signalled.
func (p *process) signalStart(sig syscall.Signal, starts int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil || p.starts != starts {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// hold keeps the process down once it exits, until release: a pod being replaced, whose
// process must not come back before its files and revision are the new ones.
func (p *process) hold() {
	p.mu.Lock()
	p.held = true
	p.mu.Unlock()
}

// waitExit waits up to limit for the running process to exit; false when it still runs.
func (p *process) waitExit(ctx context.Context, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for p.running() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return true
}

// startCount is how many times the process was started: a readiness result belongs to the start
// it was probed in.
func (p *process) startCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

func (p *process) release() {
	p.mu.Lock()
	p.held = false
	p.mu.Unlock()
}

func (p *process) isHeld() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.held
}

func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

func (p *process) changed() {
	if p.onChange != nil {
		p.onChange()
	}
}
