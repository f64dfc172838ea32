package redistest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
)

// WriterConfig sets how a Writer writes.
type WriterConfig struct {
	// Prefix starts every key: the keys are Prefix+"0", Prefix+"1", …; a key's value is the key
	// (padded to Size).
	Prefix string
	// Wait is the timeout of the WAIT 1 that follows every SET; 0 writes with SET alone, and no
	// write is then confirmed.
	Wait time.Duration
	// Timeout bounds one write, SET and WAIT; it must exceed Wait. 0: one second.
	Timeout time.Duration
	// Pause is the time between two writes. 0: 5 ms.
	Pause time.Duration
	// Size pads every value with 'x' to Size bytes (a value is never shorter than its key):
	// large values fill a replica's output buffer. 0: the value is the key.
	Size int
	// Count stops Run after that many writes. 0: Run writes until its context ends.
	Count int
}

// Result is what became of one write.
type Result int

const (
	// Failed: SET returned an error or timed out; the key may have been written or not.
	Failed Result = iota
	// Unconfirmed: SET was acknowledged, but no replica acknowledged it within the WAIT
	// timeout (or there was no WAIT).
	Unconfirmed
	// Confirmed: SET was acknowledged and WAIT 1 saw a replica acknowledge it: the write must
	// survive the loss of the master.
	Confirmed
)

func (r Result) String() string {
	switch r {
	case Confirmed:
		return "confirmed"
	case Unconfirmed:
		return "unconfirmed"
	default:
		return "failed"
	}
}

// Write is one write: its key, when it was sent, when its reply came, and its result.
type Write struct {
	Key           string
	Sent, Replied time.Time
	Result        Result
	Err           string // why a Failed write failed
}

// Counts are the writes of a Writer by result.
type Counts struct {
	Written, Confirmed, Unconfirmed, Failed int
}

// Loss is the keys of acknowledged writes that can no longer be read back.
type Loss struct {
	Confirmed, Unconfirmed []string
}

// Writer writes steadily through one client, SET key then WAIT 1 on the same connection, and
// records every write. The client decides where the writes go: a Sentinel-aware rueidis client
// follows the master; a client of one address (rueidis.ClientOption with that InitAddress and
// ForceSingleClient) is a plain client that knows nothing of Sentinel, like one behind the rfrm-
// Service or the master port of `redhook local`.
type Writer struct {
	client rueidis.Client
	cfg    WriterConfig

	mu     sync.Mutex
	next   int
	writes []Write // in the order sent: Run writes one at a time
}

// NewWriter returns a writer through client; Run starts it.
func NewWriter(client rueidis.Client, cfg WriterConfig) (*Writer, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	if cfg.Pause == 0 {
		cfg.Pause = 5 * time.Millisecond
	}
	if cfg.Wait < 0 || cfg.Pause < 0 || cfg.Timeout <= cfg.Wait || cfg.Size < 0 || cfg.Count < 0 {
		return nil, fmt.Errorf("writer: want 0 <= wait (%s) < timeout (%s), pause (%s) >= 0, size (%d) >= 0 and count (%d) >= 0",
			cfg.Wait, cfg.Timeout, cfg.Pause, cfg.Size, cfg.Count)
	}
	return &Writer{client: client, cfg: cfg}, nil
}

// Run writes until ctx ends, or until it has written cfg.Count times; every write has the
// deadline cfg.Timeout. It returns once the write in flight ends: rueidis may hold it until its deadline (it honours deadlines rather than
// cancellation on a connection used by one caller), and a reconnection takes up to the client's
// dial timeout.
func (w *Writer) Run(ctx context.Context) {
	for ctx.Err() == nil && !w.done() {
		w.writeOne(ctx)
		if w.done() {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.cfg.Pause):
		}
	}
}

// done tells whether Run has written cfg.Count times.
func (w *Writer) done() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cfg.Count > 0 && w.next >= w.cfg.Count
}

// value is what the write of key sets: key, padded to cfg.Size.
func (w *Writer) value(key string) string {
	if len(key) >= w.cfg.Size {
		return key
	}
	return key + strings.Repeat("x", w.cfg.Size-len(key))
}

func (w *Writer) writeOne(ctx context.Context) {
	w.mu.Lock()
	key := w.cfg.Prefix + strconv.Itoa(w.next)
	w.next++
	w.mu.Unlock()
	cmds := rueidis.Commands{w.client.B().Set().Key(key).Value(w.value(key)).Build()}
	if w.cfg.Wait > 0 {
		cmds = append(cmds, w.client.B().Wait().Numreplicas(1).Timeout(w.cfg.Wait.Milliseconds()).Build())
	}
	sent := time.Now()
	cctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	res := w.client.DoMulti(cctx, cmds...) // one connection, in order: WAIT covers the SET
	cancel()
	wr := Write{Key: key, Sent: sent, Replied: time.Now(), Result: Failed}
	if err := res[0].Error(); err != nil {
		if ctx.Err() != nil {
			return // Run was stopped during the write: its fate is the test's doing, not a failure
		}
		wr.Err = err.Error()
	} else {
		wr.Result = Unconfirmed
		if len(res) > 1 {
			if n, err := res[1].AsInt64(); err == nil && n >= 1 {
				wr.Result = Confirmed
			}
		}
	}
	w.mu.Lock()
	w.writes = append(w.writes, wr)
	w.mu.Unlock()
}

// Errors counts the failed writes sent at or after since by their error text.
func (w *Writer) Errors(since time.Time) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	errs := map[string]int{}
	for _, wr := range w.writes {
		if wr.Result == Failed && !wr.Sent.Before(since) {
			errs[wr.Err]++
		}
	}
	return errs
}

// Writes returns every write so far, in the order sent.
func (w *Writer) Writes() []Write {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Write(nil), w.writes...)
}

// Counts counts the writes so far by result.
func (w *Writer) Counts() Counts {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := Counts{Written: len(w.writes)}
	for _, wr := range w.writes {
		switch wr.Result {
		case Confirmed:
			c.Confirmed++
		case Unconfirmed:
			c.Unconfirmed++
		default:
			c.Failed++
		}
	}
	return c
}

// Keys returns the keys of the writes with result r, in the order sent.
func (w *Writer) Keys(r Result) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keys []string
	for _, wr := range w.writes {
		if wr.Result == r {
			keys = append(keys, wr.Key)
		}
	}
	return keys
}

// FirstSuccessAfter returns the first acknowledged write sent after t. A write already in flight
// at t does not count: it may still succeed on a master that is dying.
func (w *Writer) FirstSuccessAfter(t time.Time) (Write, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := sort.Search(len(w.writes), func(i int) bool { return w.writes[i].Sent.After(t) })
	for ; i < len(w.writes); i++ {
		if w.writes[i].Result != Failed {
			return w.writes[i], true
		}
	}
	return Write{}, false
}

// Recovery waits until a write sent after t is acknowledged, at most until t+limit, and returns
// how long after t its reply came: the time the writer could not write after an event at t (a
// kill). False when none was acknowledged in time or ctx ended.
func (w *Writer) Recovery(ctx context.Context, t time.Time, limit time.Duration) (time.Duration, bool) {
	deadline := t.Add(limit)
	for {
		if wr, ok := w.FirstSuccessAfter(t); ok && !wr.Replied.After(deadline) {
			return wr.Replied.Sub(t), true
		}
		if !time.Now().Before(deadline) {
			return 0, false
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// LongestGap is the longest time between the replies of two consecutive acknowledged writes:
// the longest the writer could not write.
func (w *Writer) LongestGap() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var gap time.Duration
	var last time.Time
	for _, wr := range w.writes {
		if wr.Result == Failed {
			continue
		}
		if !last.IsZero() {
			gap = max(gap, wr.Replied.Sub(last))
		}
		last = wr.Replied
	}
	return gap
}

// verifyBatch is how many keys one request of Verify reads; keys whose read failed are read
// again in batches of verifyRetryBatch, verifyAttempts times in all (a loaded machine can take
// longer than the client's timeout to send 200 values of 64 KiB).
const (
	verifyBatch      = 200
	verifyRetryBatch = 10
	verifyAttempts   = 3
)

// Verify reads back, through client, every key whose write was acknowledged, and returns those
// that are missing or hold another value. A key that cannot be read (an error, the deadline of
// its request), after verifyAttempts tries, counts as lost: nothing shows that it is there. The
// error tells why reads failed; the Loss is complete either way.
func (w *Writer) Verify(ctx context.Context, client rueidis.Client) (Loss, error) {
	var loss Loss
	var errs []error
	for _, r := range []Result{Confirmed, Unconfirmed} {
		keys, batch := w.Keys(r), verifyBatch
		for attempt := 1; attempt <= verifyAttempts && len(keys) > 0; attempt++ {
			var unread []string
			var readErrs []error
			for i := 0; i < len(keys); i += batch {
				part := keys[i:min(i+batch, len(keys))]
				cmds := make(rueidis.Commands, len(part))
				for j, k := range part {
					cmds[j] = client.B().Get().Key(k).Build()
				}
				cctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout+2*time.Second)
				res := client.DoMulti(cctx, cmds...)
				cancel()
				for j, k := range part {
					v, err := res[j].ToString()
					switch {
					case err == nil && v == w.value(k):
					case err != nil && !rueidis.IsRedisNil(err):
						unread = append(unread, k)
						if len(readErrs) < 3 {
							readErrs = append(readErrs, fmt.Errorf("GET %s: %w", k, err))
						}
					case r == Confirmed:
						loss.Confirmed = append(loss.Confirmed, k)
					default:
						loss.Unconfirmed = append(loss.Unconfirmed, k)
					}
				}
			}
			keys, batch = unread, verifyRetryBatch
			if len(unread) > 0 && attempt == verifyAttempts {
				errs = append(errs, readErrs...)
				if r == Confirmed {
					loss.Confirmed = append(loss.Confirmed, unread...)
				} else {
					loss.Unconfirmed = append(loss.Unconfirmed, unread...)
				}
			}
		}
	}
	if len(errs) > 0 {
		return loss, fmt.Errorf("verify: %w", errors.Join(errs...))
	}
	return loss, nil
}
