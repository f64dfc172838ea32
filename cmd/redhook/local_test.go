package main

import (
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLocalFlags(t *testing.T) {
	_, err := parseLocalFlags([]string{"--base-ip", "10.0.0.1", "--master-port", "70000", "--chaos-every", "0",
		"--log-level", "loud"}, nil, io.Discard)
	require.Error(t, err)
	for _, want := range []string{"-f FILE is required", "--base-ip", "--master-port 70000", "--chaos-every", "--log-level"} {
		assert.Contains(t, err.Error(), want)
	}
	f, err := parseLocalFlags([]string{"-f", "x.yaml", "-f", "y.yaml", "--chaos", "1m"}, strings.NewReader(""), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.10.1", f.Local.BaseIP.String())
	assert.Equal(t, []string{"x.yaml", "y.yaml"}, f.Local.Files)
	assert.Equal(t, "1m0s", f.Chaos.Duration.String())
}
