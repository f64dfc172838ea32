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
			if err := p.start(); err != nil {
				p.log.Error().Err(err).Str("pod", p.name).Msg("start failed")
			} else {
				p.wait(ctx)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

func (p *process) start() error {
	if p.prepare != nil {
		if err := p.prepare(); err != nil {
			return fmt.Errorf("prepare %s: %w", p.name, err)
		}
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group: a Ctrl-C on the terminal reaches redhook only, which stops the children
	// itself; Pdeathsig takes them down if redhook itself is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	logFile.Close()
	if err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.starts++
	p.mu.Unlock()
	p.changed()
	return nil
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
