package hooks

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
