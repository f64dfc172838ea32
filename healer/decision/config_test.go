package decision

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSameConfig(t *testing.T) {
	for _, tt := range []struct {
		got, want string
		same      bool
	}{
		{"104857600", "100mb", true},
		{"100000000", "100m", true},
		{"1073741824", "1GB", true},
		{"1024", "1kb", true},
		{"104857600", "100m", false},
		{"yes", "YES", true},
		{"900 1 300 10", "900 1  300 10", true},
		{"", `""`, true},
		{"3600 1", `""`, false},
		{"allkeys-lru", "noeviction", false},
		{"5000", "5000", true},
	} {
		assert.Equal(t, tt.same, sameConfig(tt.got, tt.want), "%q vs %q", tt.got, tt.want)
	}
}
