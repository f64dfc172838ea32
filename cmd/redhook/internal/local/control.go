package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/rueidis"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/redhook/redhook/hooks"
)

// What a load tool (a chaos monkey, a failover benchmark) may do with a running Cluster: find
// its pods, kill their processes, wait for its status, and write through Sentinel or the master
// port.

// Name is the pod's name (rfr-NAME-0, rfs-NAME-local-0, …).
func (p *Pod) Name() string { return p.name }

// Addr is the pod's host:port.
func (p *Pod) Addr() string { return net.JoinHostPort(p.ip, strconv.Itoa(int(p.port))) }

// Kill sends SIGKILL to the pod's process, as an OOM kill would; the process is restarted after
// the restart delay unless hold, which keeps it down until Release (a host that is gone).
func (p *Pod) Kill(hold bool) error {
	if p.proc == nil {
		return errors.New(p.name + " is not running")
	}
	return p.proc.kill(hold)
}

// Freeze stops the pod's process with SIGSTOP, as a host that stops answering: connections to
// it time out rather than being refused. Thaw resumes it.
func (p *Pod) Freeze() error { return p.signal(syscall.SIGSTOP) }

// Thaw resumes a process that Freeze stopped.
func (p *Pod) Thaw() error { return p.signal(syscall.SIGCONT) }

func (p *Pod) signal(sig syscall.Signal) error {
	if p.proc == nil {
		return errors.New(p.name + " is not running")
	}
	return p.proc.signal(sig)
}

// Stop stops a redis pod as a kubelet stops a deleted pod's container: it runs the rendered
// preStop hook (for a master, the planned handover to a replica), bounded by the rendered grace
// period, then sends SIGTERM, unless the process stopped during the hook (a master's hook shuts
// it down once it handed over). The process is restarted after the restart delay, as the
// StatefulSet's replacement pod would start. It returns the hook's output.
func (c *Cluster) Stop(ctx context.Context, p *Pod) ([]byte, error) {
	if p.proc == nil || !p.proc.running() {
		return nil, errors.New(p.name + " is not running")
	}
	starts := p.proc.startCount()
	var out []byte
	var hookErr error
	if argv, grace := c.preStop(p.component); len(argv) > 0 {
		hctx, cancel := context.WithTimeout(ctx, grace)
		out, hookErr = c.podCommand(hctx, p, argv).CombinedOutput()
		cancel()
		if hookErr != nil {
			hookErr = fmt.Errorf("preStop of %s: %w", p.name, hookErr)
		}
	}
	return out, errors.Join(hookErr, p.proc.signalStart(syscall.SIGTERM, starts))
}

// Release lets a held pod's process be restarted.
func (p *Pod) Release() {
	if p.proc != nil {
		p.proc.release()
	}
}

// Redis returns the redis pods, in order.
func (c *Cluster) Redis() []*Pod { return append([]*Pod(nil), c.redis...) }

// Sentinels returns the sentinel pods, in order.
func (c *Cluster) Sentinels() []*Pod { return append([]*Pod(nil), c.sentinel...) }

// Master returns the redis pod the healer last reported as master; nil when it knows none.
func (c *Cluster) Master() *Pod {
	c.mu.Lock()
	master := c.report.Master
	c.mu.Unlock()
	if master == nil {
		return nil
	}
	for _, p := range c.redis {
		if p.ip == master.IP {
			return p
		}
	}
	return nil
}

// WaitReady waits up to limit until the status's Ready condition is True (want) or not True
// (!want); false when it did not come to that.
func (c *Cluster) WaitReady(ctx context.Context, want bool, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c.mu.Lock()
		ready := conditionIs(c.status.Conditions, hooks.ConditionReady, "True")
		c.mu.Unlock()
		if ready == want {
			return true
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	return false
}

func conditionIs(conds []metav1.Condition, t, status string) bool {
	for _, c := range conds {
		if c.Type == t {
			return string(c.Status) == status
		}
	}
	return false
}

// SentinelClient is a Sentinel-aware client of the local RedisFailover.
func (c *Cluster) SentinelClient() (rueidis.Client, error) {
	if len(c.sentinel) == 0 {
		return nil, errors.New("no sentinels")
	}
	addrs := make([]string, len(c.sentinel))
	for i, s := range c.sentinel {
		addrs[i] = s.Addr()
	}
	rf := c.parent.WithDefaults()
	sentinelPassword := "" // as in spotahome, the sentinels require none unless spec.auth.sentinel
	if rf.Spec.Auth.Sentinel {
		sentinelPassword = c.password
	}
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  addrs,
		Sentinel:     rueidis.SentinelOption{MasterSet: rf.Spec.Sentinel.MasterName, Password: sentinelPassword},
		Password:     c.password,
		DisableCache: true,
		Dialer:       net.Dialer{Timeout: time.Second},
	})
}

// MasterPortClient is a plain client of the master port, one that knows nothing of Sentinel, as
// an application behind the rfrm- Service would be: it reconnects when the port closes its
// connection on a master change.
func (c *Cluster) MasterPortClient(dialTimeout time.Duration) (rueidis.Client, error) {
	if c.cfg.MasterPort == 0 {
		return nil, errors.New("no master port")
	}
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{net.JoinHostPort("127.0.0.1", strconv.Itoa(c.cfg.MasterPort))},
		ForceSingleClient: true,
		Password:          c.password,
		DisableCache:      true,
		Dialer:            net.Dialer{Timeout: dialTimeout},
	})
}
