package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/rueidis"
)

// NewClient is a plain client of one process: one connection, no client-side cache, no
// retries and short timeouts, so that a test sees a dead or stopped process as an error
// within a second rather than waiting on it.
func NewClient(addr, password string) (rueidis.Client, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, Password: password,
		DisableCache: true, ForceSingleClient: true, ClientSetInfo: rueidis.DisableClientSetInfo,
		Dialer: net.Dialer{Timeout: 300 * time.Millisecond}, ConnWriteTimeout: time.Second, DisableRetry: true})
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", addr, err)
	}
	return c, nil
}

// NewSentinelClient is a Sentinel-aware client of masterSet's master, found through the
// sentinels at addrs: password authenticates to the master, sentinelPassword to the sentinels
// (empty when they require none). It also asks the sentinels for the master every second
// (SentinelOption.TopologyRefreshInterval, which rueidis recommends setting; a few seconds for
// applications, 1 s here so that a missed event costs a test little): its tracking is otherwise
// driven by +switch-master alone, and a client that missed that event (seen in e2e runs after a
// forced deletion, for minutes) stays on the old master's address until it is restarted.
func NewSentinelClient(addrs []string, masterSet, password, sentinelPassword string) (rueidis.Client, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, Password: password,
		Sentinel: rueidis.SentinelOption{MasterSet: masterSet, Password: sentinelPassword,
			TopologyRefreshInterval: time.Second},
		DisableCache: true, ClientSetInfo: rueidis.DisableClientSetInfo,
		Dialer: net.Dialer{Timeout: 200 * time.Millisecond}, ConnWriteTimeout: 500 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("sentinel client of %s via %v: %w", masterSet, addrs, err)
	}
	return c, nil
}

// Client is the harness's own client of p (NewClient with p.Password), made at first use and
// closed at the test's cleanup. It reconnects across restarts.
func (p *Proc) Client() (rueidis.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	c, err := NewClient(p.Addr(), p.Password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	p.client = c
	return c, nil
}

// Do runs one command on p with a 2 s deadline.
func (p *Proc) Do(args ...string) Reply {
	if len(args) == 0 {
		return Reply{err: errors.New("do: no command")}
	}
	c, err := p.Client()
	if err != nil {
		return Reply{err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return Reply{res: c.Do(ctx, c.B().Arbitrary(args[0]).Args(args[1:]...).Build())}
}

// Reply is a command's result, or the error of getting a client: one value to check either.
type Reply struct {
	res rueidis.RedisResult
	err error
}

// Error is the error of the client, the connection or the command.
func (r Reply) Error() error {
	if r.err != nil {
		return r.err
	}
	return r.res.Error()
}

func (r Reply) ToString() (string, error) {
	if r.err != nil {
		return "", r.err
	}
	return r.res.ToString()
}

func (r Reply) AsInt64() (int64, error) {
	if r.err != nil {
		return 0, r.err
	}
	return r.res.AsInt64()
}

// ToAny is the reply as rueidis' ToAny gives it (what the healer's parsers read).
func (r Reply) ToAny() (any, error) {
	if r.err != nil {
		return nil, r.err
	}
	return r.res.ToAny()
}
