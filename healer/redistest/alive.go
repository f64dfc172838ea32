package redistest

// Alive tells whether the process is running now: started, not killed, and not exited by
// itself. Unlike Running, it notices a process that died on its own (a config error found
// after the port opened, a module that failed to load).
func (p *Proc) Alive() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}
