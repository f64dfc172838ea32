package redistest

import (
	"bytes"
	"os"
	"sync"
)

// SyncBuffer is a log sink safe for concurrent writes (zerolog.New(buf) in a component that
// logs from several goroutines) and reads while they go on.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CaptureLog is a SyncBuffer for the log of what (an in-process component) that, at the test's
// cleanup, is printed whole when the test failed, and kept as $REDHOOK_TEST_LOGS/<test>/<what>.log
// when that is set, beside the processes' logs. Make it before starting the component:
// cleanups run last-in first-out, so the component has stopped writing when it is printed.
func CaptureLog(t TB, what string) *SyncBuffer {
	buf := &SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", what, buf.String())
		}
		if dir := os.Getenv("REDHOOK_TEST_LOGS"); dir != "" {
			if err := keepFile(t, dir, what+".log", []byte(buf.String())); err != nil {
				t.Logf("keep %s's log: %v", what, err)
			}
		}
	})
	return buf
}
