package failover

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"
	"github.com/rs/zerolog"

	"github.com/redhook/redhook/cmd/redhook/internal/local"
)

// BenchConfig is what `redhook bench-failover` measures, and where.
type BenchConfig struct {
	Runs       int   // failovers per down-after value and failure kind
	DownAfter  []int // down-after-milliseconds values
	BaseIP     net.IP
	MasterPort int
}

// Validate reports every problem of the configuration.
func (c BenchConfig) Validate() error {
	var errs []error
	if len(c.DownAfter) == 0 {
		errs = append(errs, errors.New("--down-after: no value"))
	}
	for _, d := range c.DownAfter {
		if d < 100 {
			errs = append(errs, fmt.Errorf("--down-after %d: want milliseconds >= 100", d))
		}
	}
	return errors.Join(errs...)
}

// Bench measures unplanned master loss on a local RedisFailover: for each
// down-after-milliseconds D and each failure kind, how long until a Sentinel-aware client and a
// plain client on the master port write again, and how many writes are lost. It prints a line
// per run, then a table, to out.
func Bench(ctx context.Context, cfg BenchConfig, out io.Writer, log zerolog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	var rows []benchRow
	for _, d := range cfg.DownAfter {
		r, err := benchOneD(ctx, cfg, d, out, log)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	printBenchTable(out, rows)
	return nil
}

// benchRow is the result of one D and one failure kind.
type benchRow struct {
	down                 int
	kind                 string
	sentinel, masterPort []time.Duration
	confirmedLost        int
	unconfirmedLost      int
	confirmed            int
	failed               int
}

const (
	kindRestart = "restarted after 1 s"
	kindGone    = "host gone"
)

func benchOneD(ctx context.Context, bc BenchConfig, down int, out io.Writer, log zerolog.Logger) ([]benchRow, error) {
	dir, err := os.MkdirTemp("", "redhook-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rf := filepath.Join(dir, "rf.yaml")
	if err := os.WriteFile(rf, []byte(fmt.Sprintf(`apiVersion: databases.spotahome.com/v1
kind: RedisFailover
metadata: {name: bench}
spec:
  sentinel:
    customConfig: ["down-after-milliseconds %d"]
`, down)), 0o600); err != nil {
		return nil, err
	}
	cfg := local.Config{Files: []string{rf}, BaseIP: bc.BaseIP, MasterPort: bc.MasterPort,
		RestartDelay: time.Second, RedisServer: "redis-server", RedisCli: "redis-cli"}
	c, err := local.New(cfg, io.Discard, log)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx, nil) }()
	defer func() { cancel(); <-done }()
	if !c.WaitReady(ctx, true, time.Minute) {
		return nil, errors.New("the local RedisFailover did not become ready within a minute")
	}
	client, err := c.SentinelClient()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	rows := []benchRow{{down: down, kind: kindRestart}, {down: down, kind: kindGone}}
	for i := 0; i < bc.Runs && ctx.Err() == nil; i++ {
		for k := range rows {
			if err := benchOnce(ctx, c, client, bc.MasterPort, &rows[k], out, i); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// benchOnce kills the master once and measures.
func benchOnce(ctx context.Context, c *local.Cluster, client rueidis.Client, port int, row *benchRow, out io.Writer, run int) error {
	if !c.WaitReady(ctx, true, 2*time.Minute) {
		return errors.New("not ready before a run")
	}
	victim := c.Master()
	if victim == nil {
		return errors.New("no master to kill")
	}
	w := &benchWriter{prefix: fmt.Sprintf("bench:%d:%s:%d:", row.down, row.kind[:4], run)}
	wctx, stopWriters := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { w.sentinelLoop(wctx, client) })
	wg.Go(func() { w.portLoop(wctx, port) })
	time.Sleep(500 * time.Millisecond) // steady writes before the kill
	killed := time.Now()
	if err := victim.Kill(row.kind == kindGone); err != nil {
		stopWriters()
		wg.Wait()
		return err
	}
	sent, viaPort := w.waitRecovered(ctx, killed, 60*time.Second)
	stopWriters()
	wg.Wait()
	if row.kind == kindGone {
		victim.Release()
	}
	if !c.WaitReady(ctx, true, 2*time.Minute) {
		return errors.New("not ready after a run")
	}
	lostC, lostU, confirmed := w.verify(ctx, client)
	row.confirmedLost += lostC
	row.unconfirmedLost += lostU
	row.confirmed += confirmed
	if sent <= 0 || viaPort <= 0 {
		row.failed++
	} else {
		row.sentinel = append(row.sentinel, sent)
		row.masterPort = append(row.masterPort, viaPort)
	}
	fmt.Fprintf(out, "D=%d %-20s run %2d: sentinel client %6s, master port %6s, confirmed lost %d, unconfirmed lost %d\n",
		row.down, row.kind, run+1, sent.Round(time.Millisecond), viaPort.Round(time.Millisecond), lostC, lostU)
	return nil
}

// benchWriter writes steadily through Sentinel (SET + WAIT 1) and through the master port.
type benchWriter struct {
	prefix string

	mu sync.Mutex
	n  int
	// sentinelOK and portOK are the latest successful write of each writer: when it was sent
	// and when its reply came. Only a write sent after the kill counts as recovery: one already
	// in flight at the kill may still succeed on the dying master.
	sentinelOK, portOK     write
	confirmed, unconfirmed []string
}

func (w *benchWriter) sentinelLoop(ctx context.Context, client rueidis.Client) {
	for ctx.Err() == nil {
		w.mu.Lock()
		w.n++
		key := w.prefix + strconv.Itoa(w.n)
		w.mu.Unlock()
		sent := time.Now()
		cctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
		res := client.DoMulti(cctx, client.B().Set().Key(key).Value("1").Build(),
			client.B().Wait().Numreplicas(1).Timeout(100).Build())
		cancel()
		if res[0].Error() == nil {
			w.mu.Lock()
			w.sentinelOK = write{sent: sent, done: time.Now()}
			if n, err := res[1].AsInt64(); err == nil && n >= 1 {
				w.confirmed = append(w.confirmed, key)
			} else {
				w.unconfirmed = append(w.unconfirmed, key)
			}
			w.mu.Unlock()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *benchWriter) portLoop(ctx context.Context, port int) {
	var conn net.Conn
	var rd *bufio.Reader
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 250*time.Millisecond)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			conn, rd = c, bufio.NewReader(c)
		}
		sent := time.Now()
		_ = conn.SetDeadline(sent.Add(250 * time.Millisecond))
		_, err := io.WriteString(conn, respCommand("SET", "bench:port", "1"))
		var line string
		if err == nil {
			line, err = rd.ReadString('\n')
		}
		if err != nil || line != "+OK\r\n" {
			conn.Close()
			conn = nil
		} else {
			w.mu.Lock()
			w.portOK = write{sent: sent, done: time.Now()}
			w.mu.Unlock()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// write is one successful write: when it was sent and when it was acknowledged.
type write struct{ sent, done time.Time }

// waitRecovered returns how long after the kill each writer succeeded again (0: never).
func (w *benchWriter) waitRecovered(ctx context.Context, killed time.Time, limit time.Duration) (sentinel, port time.Duration) {
	deadline := killed.Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		w.mu.Lock()
		s, p := w.sentinelOK, w.portOK
		w.mu.Unlock()
		if s.sent.After(killed) && sentinel == 0 {
			sentinel = s.done.Sub(killed)
		}
		if p.sent.After(killed) && port == 0 {
			port = p.done.Sub(killed)
		}
		if sentinel > 0 && port > 0 {
			return sentinel, port
		}
		time.Sleep(5 * time.Millisecond)
	}
	return sentinel, port
}

// verify reads every acknowledged key back; a missing one is a lost write.
func (w *benchWriter) verify(ctx context.Context, client rueidis.Client) (lostConfirmed, lostUnconfirmed, confirmed int) {
	w.mu.Lock()
	c, u := append([]string(nil), w.confirmed...), append([]string(nil), w.unconfirmed...)
	w.mu.Unlock()
	missing := func(keys []string) int {
		n := 0
		for _, k := range keys {
			cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			v, err := client.Do(cctx, client.B().Exists().Key(k).Build()).AsInt64()
			cancel()
			if err != nil || v != 1 {
				n++
			}
		}
		return n
	}
	return missing(c), missing(u), len(c)
}

func printBenchTable(out io.Writer, rows []benchRow) {
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| D (ms) | failure | runs | (a) Sentinel client writes again min / median / max | (b) master port min / median / max | (c) confirmed writes lost | (d) unconfirmed writes lost |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(out, "| %d | %s | %d (%d failed) | %s | %s | %d of %d | %d |\n", r.down, r.kind,
			len(r.sentinel)+r.failed, r.failed, spread(r.sentinel), spread(r.masterPort), r.confirmedLost, r.confirmed,
			r.unconfirmedLost)
	}
}

func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	lo, med, hi := minMedianMax(ds)
	return fmt.Sprintf("%.2f / %.2f / %.2f s", lo.Seconds(), med.Seconds(), hi.Seconds())
}

// respCommand encodes a command in RESP, for a plain client that knows nothing of Sentinel.
func respCommand(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}
