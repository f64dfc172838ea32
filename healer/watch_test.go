package healer

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/redhook/redhook/healer/decision"
	"github.com/redhook/redhook/hooks"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWatchVerdict(t *testing.T) {
	tests := []struct {
		name    string
		expect  string
		p       probe
		healthy bool
		why     string
	}{
		{name: "master answers, same run id", expect: "run0", p: probe{role: hooks.RoleMaster, runID: "run0"}, healthy: true},
		{name: "master answers on the old connection (no run id read)", expect: "run0", p: probe{role: hooks.RoleMaster}, healthy: true},
		{name: "run id not known yet", p: probe{role: hooks.RoleMaster, runID: "run9"}, healthy: true},
		{name: "connection refused", expect: "run0", p: probe{err: errors.New("connection refused")},
			why: "master does not answer: connection refused"},
		{name: "restarted as a replica of the placeholder", expect: "run0", p: probe{role: hooks.RoleReplica, runID: "run1"},
			why: "master answers role slave"},
		{name: "restarted as master", expect: "run0aaaaaaaa", p: probe{role: hooks.RoleMaster, runID: "run1bbbbbbbb"},
			why: "master restarted: run id run1bbbb, was run0aaaa"},
		{name: "demoted on the same connection", expect: "run0", p: probe{role: hooks.RoleReplica},
			why: "master answers role slave"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			healthy, why := watchVerdict(tt.expect, tt.p)
			assert.Equal(t, tt.healthy, healthy)
			assert.Equal(t, tt.why, why)
		})
	}
}

func TestReadRESP(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
		err  string
	}{
		{name: "simple", in: "+OK\r\n", want: "OK"},
		{name: "error", in: "-NOAUTH Authentication required.\r\n", err: "NOAUTH Authentication required."},
		{name: "integer", in: ":42\r\n", want: int64(42)},
		{name: "bulk", in: "$5\r\nab\r\nc\r\n", want: "ab\r\nc"},
		{name: "nil bulk", in: "$-1\r\n", want: nil},
		{name: "role master", in: "*3\r\n$6\r\nmaster\r\n:3129659\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n9001\r\n$7\r\n3129242\r\n",
			want: []any{"master", int64(3129659), []any{[]any{"127.0.0.1", "9001", "3129242"}}}},
		{name: "truncated", in: "$5\r\nab", err: "EOF"},
		{name: "bad type", in: "?x\r\n", err: "malformed reply"},
		{name: "bad length", in: "*x\r\n", err: "malformed reply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readRESP(bufio.NewReader(strings.NewReader(tt.in)))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	role, err := decision.ParseRole([]any{"master", int64(3129659), []any{[]any{"127.0.0.1", "9001", "3129242"}}})
	require.NoError(t, err)
	assert.Equal(t, hooks.RoleMaster, role.Role)
	assert.Equal(t, "*2\r\n$4\r\nAUTH\r\n$3\r\np w\r\n", encodeRESP("AUTH", "p w"))
}
