package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// LogEntry is one line of a redis-server or redis-sentinel log: when it was written (the
// process's clock, millisecond precision, local time) and its message.
type LogEntry struct {
	Time time.Time
	Msg  string
}

// logTimeLayout is how Redis stamps its log lines: "pid:X 29 Nov 2026 20:48:47.123 # msg".
const logTimeLayout = "2 Jan 2006 15:04:05.000"

// LogSize is the size of p's log now: pass it to LogSince to read only what comes after.
func (p *Proc) LogSize() int64 {
	st, err := os.Stat(p.LogPath())
	if err != nil {
		return 0
	}
	return st.Size()
}

// LogSince reads the lines p logged from byte offset from on (LogSize at the point of
// interest). Lines without a Redis timestamp (the startup banner) are skipped.
func (p *Proc) LogSince(from int64) ([]LogEntry, error) {
	f, err := os.Open(p.LogPath())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Name, err)
	}
	var out []LogEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if e, ok := parseLogLine(sc.Text()); ok {
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// parseLogLine reads "pid:role DD Mon YYYY HH:MM:SS.mmm L message".
func parseLogLine(line string) (LogEntry, bool) {
	f := strings.SplitN(line, " ", 7)
	if len(f) < 7 || !strings.Contains(f[0], ":") {
		return LogEntry{}, false
	}
	t, err := time.ParseInLocation(logTimeLayout, strings.Join(f[1:5], " "), time.Local)
	if err != nil {
		return LogEntry{}, false
	}
	return LogEntry{Time: t, Msg: f[6]}, true
}

// FailoverAttempt is one failover a sentinel tried, read from its log: from +try-failover to
// +failover-end, a -failover-abort-… or +failover-end-for-timeout (End is zero while it has not
// ended in what was read).
type FailoverAttempt struct {
	Sentinel string
	// Epoch is the epoch the sentinel entered for it (its +new-epoch before +try-failover).
	Epoch      int64
	Start, End time.Time
	// Forced: asked for with SENTINEL FAILOVER ("Executing user requested FAILOVER"), which
	// skips Sentinel's leader election; otherwise Sentinel's own, after +odown.
	Forced bool
	// Elected: the sentinel went on to promote a replica (+elected-leader).
	Elected bool
	// Promoted is the replica it selected (+selected-slave), "" before.
	Promoted string
	// PromotionSent is when it sent the replica SLAVEOF NO ONE (+failover-state-wait-promotion);
	// PromotionSeen when it read the replica's new role, in its next INFO of that replica
	// (+promoted-slave), and from then on names it as the master. Zero before.
	PromotionSent, PromotionSeen time.Time
	// Aborted is the event that aborted it (-failover-abort-not-elected…); "" otherwise.
	Aborted string
}

// Overlaps tells whether a and b ran at the same time, an attempt that has not ended running
// until until.
func (a FailoverAttempt) Overlaps(b FailoverAttempt, until time.Time) bool {
	end := func(x FailoverAttempt) time.Time {
		if x.End.IsZero() {
			return until
		}
		return x.End
	}
	return !a.Start.After(end(b)) && !b.Start.After(end(a))
}

// FailoverAttempts reads the failovers sentinel p tried in its log from byte offset from on.
func (p *Proc) FailoverAttempts(from int64) ([]FailoverAttempt, error) {
	entries, err := p.LogSince(from)
	if err != nil {
		return nil, err
	}
	var out []FailoverAttempt
	var epoch int64
	forced := false
	cur := -1
	for _, e := range entries {
		word, rest, _ := strings.Cut(e.Msg, " ")
		switch {
		case strings.HasPrefix(e.Msg, "Executing user requested FAILOVER"):
			forced = true
		case word == "+new-epoch":
			epoch, _ = strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
		case word == "+try-failover":
			out = append(out, FailoverAttempt{Sentinel: p.Name, Epoch: epoch, Start: e.Time, Forced: forced})
			cur, forced = len(out)-1, false
		case cur < 0:
		case word == "+elected-leader":
			out[cur].Elected = true
		case word == "+selected-slave":
			// "+selected-slave slave 127.0.180.2:6379 127.0.180.2 6379 @ mymaster …"
			if f := strings.Fields(rest); len(f) > 1 {
				out[cur].Promoted = f[1]
			}
		case word == "+failover-state-wait-promotion":
			out[cur].PromotionSent = e.Time
		case word == "+promoted-slave":
			out[cur].PromotionSeen = e.Time
		case word == "+failover-end" || word == "+failover-end-for-timeout" || strings.HasPrefix(word, "-failover-abort"):
			out[cur].End = e.Time
			if strings.HasPrefix(word, "-failover-abort") {
				out[cur].Aborted = word
			}
			cur = -1
		}
	}
	return out, nil
}
