package hooks

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redhook/redhook/healer/redistest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The tables of validate.go against the real redis-server: what validation accepts, Redis must
// accept, and what it refuses, Redis must refuse too, so the tables cannot drift from Redis.
//
// The trick that keeps this cheap: redis-server reads its whole configuration file before it
// opens a socket and stops at the first line it refuses. A file whose last line is an option no
// Redis knows therefore always makes it exit at once, and the line it names tells whether every
// line before was accepted. No process is left running, no port is used.

// endLine is an option no Redis knows.
const endLine = "redhook-end-of-test-config yes"

var fatalLine = regexp.MustCompile(`at line (\d+)\n>>> '(.*)'\n(.*)`)

// redisLoad runs redis-server on lines plus endLine and returns the line number it stopped at
// (1-based; len(lines)+1 when it accepted every line) and its message.
func redisLoad(t *testing.T, lines []string) (int, string) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "redis.conf")
	require.NoError(t, os.WriteFile(conf, []byte(strings.Join(append(append([]string(nil), lines...), endLine), "\n")+"\n"), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, redistest.RedisServer, conf)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "redis-server must stop at %q: %s", endLine, out)
	m := fatalLine.FindStringSubmatch(string(out))
	if m == nil {
		// Redis 7.0 does not always report: `rename-command CONFIG|GET x` fails an assertion.
		return 0, "redis-server stopped without a configuration error: " + firstLines(string(out), 5)
	}
	n, _ := strconv.Atoi(m[1])
	return n, m[2] + ": " + m[3]
}

// redisAccepts tells whether Redis accepts every line; msg names the first it refuses.
func redisAccepts(t *testing.T, lines []string) (bool, string) {
	t.Helper()
	n, msg := redisLoad(t, lines)
	return n == len(lines)+1, msg
}

func TestRedisAcceptsTheTables(t *testing.T) {
	redistest.Require(t, redistest.RedisServer)
	out, err := exec.Command(redistest.RedisServer, "--version").Output()
	require.NoError(t, err)
	t.Logf("%s", out)

	t.Run("every command of the table can be renamed", func(t *testing.T) {
		var lines []string
		for c := range redisCommands {
			lines = append(lines, fmt.Sprintf("rename-command %s redhook-renamed-%s", c, strings.ToLower(c)))
		}
		ok, msg := redisAccepts(t, lines)
		assert.True(t, ok, msg)
	})
	t.Run("renames validation refuses are refused by Redis", func(t *testing.T) {
		for _, renames := range [][]RedisCommandRename{
			{{From: "NOSUCHCMD", To: "x"}},
			{{From: "KEYS", To: "GET"}},
			{{From: "KEYS", To: "x"}, {From: "keys", To: "y"}},
			{{From: "KEYS", To: "x"}, {From: "FLUSHDB", To: "X"}},
			{{From: "CONFIG|GET", To: "x"}},
		} {
			rf := rfWith(RedisFailoverSpec{Redis: RedisSettings{CustomCommandRenames: renames}})
			assert.NotEmpty(t, Validate(rf), "validation accepts %v", renames)
			var lines []string
			for _, r := range renames {
				lines = append(lines, "rename-command "+r.From+" "+r.To)
			}
			ok, _ := redisAccepts(t, lines)
			assert.False(t, ok, "Redis accepts %v", renames)
		}
	})
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// optionSamples returns lines validation must accept and lines it must refuse for one option of
// the table, by kind and bounds.
func optionSamples(name string, o redisOption) (valid, invalid []string) {
	l := func(v string) string { return name + " " + v }
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	switch o.kind {
	case kindBool:
		valid = []string{l("no"), l("NO")}
		if name != "activedefrag" { // refused by builds without active defragmentation (Debian's)
			valid = append(valid, l("yes"))
		}
		invalid = []string{l("maybe"), l("yes no")}
	case kindInt:
		valid = []string{l(i64(o.min)), l(i64(o.max))}
		if o.min > math.MinInt64 {
			invalid = append(invalid, l(i64(o.min-1)))
		}
		if o.max < math.MaxInt64 {
			invalid = append(invalid, l(i64(o.max+1)))
		}
		invalid = append(invalid, l("1kb"), l("1.5"), l("x"))
	case kindMemory:
		valid = []string{l(i64(o.min)), l("1gb"), l("2048MB")}
		if o.min > 0 {
			invalid = append(invalid, l(i64(o.min-1)))
		}
		invalid = append(invalid, l("100zz"), l("-1"), l("1.5gb"))
		if o.percent {
			valid = append(valid, l("10%"))
		}
	case kindEnum:
		for _, v := range o.values {
			valid = append(valid, l(v))
		}
		if o.multi {
			valid = append(valid, l(o.values[0]+" "+o.values[1]), l(`"`+o.values[0]+" "+o.values[1]+`"`))
		} else {
			invalid = append(invalid, l(o.values[0]+" "+o.values[1]))
		}
		invalid = append(invalid, l("zz-no-such-value"))
	case kindString:
		valid = []string{l("value"), l(`"two words"`)}
		invalid = []string{l("two words")}
	case kindFilename:
		valid = []string{l("name.x")}
		invalid = []string{l("a/b.x"), l("../x"), l("two words")}
	case kindHostname:
		valid = []string{l("redis-0.example.com"), l(`""`)}
		invalid = []string{l(`"two words"`), l("a_b")}
	case kindSave:
		valid = []string{l(`""`), l("900 1 300 10"), l(`"900 1 300 10"`), l("3600 1")}
		invalid = []string{l("900"), l("900 x"), l("900 1 300")}
	case kindClientOutputBufferLimit:
		valid = []string{l("normal 0 0 0"), l("replica 256mb 64mb 60"), l(`"pubsub 32mb 8mb 60"`), l("slave 1gb 1gb 0 pubsub 0 0 0")}
		invalid = []string{l("normal 0 0"), l("bogus 0 0 0"), l("normal 1zz 0 0"), l("normal 0 0 -1")}
	case kindKeyspaceEvents:
		valid = []string{l("KEA"), l(`""`), l("Ex")}
		invalid = []string{l("KEq"), l("K E")}
	case kindOOMScoreAdjValues:
		valid = []string{l("0 200 800"), l(`"-2000 0 2000"`)}
		invalid = []string{l("0 200"), l("0 200 3000"), l("0 x 1")}
	case kindPercentiles:
		valid = []string{l("50 99 99.9"), l(`""`), l(`"50 99"`)}
		invalid = []string{l("101"), l("-1"), l("x")}
	}
	return valid, invalid
}

func TestRedisAcceptsTheOptionTable(t *testing.T) {
	redistest.Require(t, redistest.RedisServer)
	var valid, invalid []string
	for name, o := range redisOptions {
		v, in := optionSamples(name, o)
		valid, invalid = append(valid, v...), append(invalid, in...)
	}
	// The samples.
	invalid = append(invalid, "maxmemory 100zz", "nosuchoption 1", `maxmemory-policy "allkeys-lru`,
		`maxmemory-policy "allkeys-lru"x`, "maxmemory-policy 'allkeys-lru")
	valid = append(valid, `maxmemory-policy "allkeys-lru"`, "maxmemory-policy 'allkeys-lru'", `appendfilename "app\x2eaof"`)
	sort.Strings(valid)
	sort.Strings(invalid)

	for _, line := range valid {
		rf := rfWith(RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{CustomConfig: []string{line}}}})
		assert.Empty(t, Validate(rf), "validation refuses a line Redis accepts: %s", line)
	}
	// One redis-server reads every valid line.
	n, msg := redisLoad(t, valid)
	assert.Equal(t, len(valid)+1, n, "Redis refuses a line the table accepts: %s", msg)

	// Every invalid line on its own, a few redis-servers at a time.
	type result struct {
		line     string
		accepted bool
	}
	results := make(chan result, len(invalid))
	sem := make(chan struct{}, 4*runtime.NumCPU())
	for _, line := range invalid {
		rf := rfWith(RedisFailoverSpec{Redis: RedisSettings{PodSettings: PodSettings{CustomConfig: []string{line}}}})
		assert.NotEmpty(t, Validate(rf), "validation accepts a line Redis must refuse: %s", line)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			ok, _ := redisAccepts(t, []string{line})
			results <- result{line, ok}
		}()
	}
	for range invalid {
		r := <-results
		assert.False(t, r.accepted, "Redis accepts a line validation refuses (the table is too strict): %s", r.line)
	}
	t.Logf("%d valid and %d invalid lines checked against redis-server", len(valid), len(invalid))
}

// TestRedisLoadsTheRenderedConfig: the whole rendered redis.conf — renames, customConfig and the
// customConfigUnchecked section with its comment — is read by redis-server to the end.
func TestRedisLoadsTheRenderedConfig(t *testing.T) {
	redistest.Require(t, redistest.RedisServer)
	rf := rfWith(RedisFailoverSpec{Redis: RedisSettings{
		PodSettings: PodSettings{CustomConfig: []string{"maxmemory 100mb", `maxmemory-policy "allkeys-lru"`,
			`save "900 1 300 10"`, "client-output-buffer-limit replica 256mb 64mb 60", "notify-keyspace-events Ex"}},
		CustomCommandRenames:  []RedisCommandRename{{From: "FLUSHALL", To: "wipe-all"}, {From: "KEYS"}},
		CustomConfigUnchecked: []string{"lazyfree-lazy-user-flush yes"},
	}})
	require.Empty(t, Validate(rf))
	r := &renderer{rf: rf.WithDefaults()}
	conf := r.redisConf()
	require.Contains(t, conf, "# spec.redis.customConfigUnchecked")
	// dir is the pod's /data, which does not exist here.
	lines := strings.Split(strings.TrimSpace(strings.ReplaceAll(conf, "dir "+dataDir, "dir "+t.TempDir())), "\n")
	n, msg := redisLoad(t, lines)
	assert.Equal(t, len(lines)+1, n, "redis-server refuses the rendered redis.conf: %s\n%s", msg, conf)
}
