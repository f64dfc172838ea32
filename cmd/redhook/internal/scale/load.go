package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// The load is what Metacontroller sends: a fixed number of workers, each sync request sent
// when it is due and answered before that worker takes the next one. RedisFailover i is due at
// start + i·P/N + k·P: evenly spread. A due request waits in the queue while every worker is
// busy; that wait is recorded apart from the round trip. As Metacontroller writes the status a
// response asks for, the next request of that RedisFailover carries it in its parent.

// job is one sync request to send.
type job struct {
	due time.Time
	rf  *parent
}

// parent is the request of one RedisFailover, updated with the status of its last response.
type parent struct {
	mu     sync.Mutex
	body   []byte
	status []byte // the parent's status in body (raw JSON); nil before the first response
}

func (p *parent) request() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.body
}

// answered puts the status of a response into the next request, when it changed.
func (p *parent) answered(response []byte) error {
	var resp struct {
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(response, &resp); err != nil {
		return fmt.Errorf("response: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if bytes.Equal(resp.Status, p.status) {
		return nil
	}
	var req map[string]json.RawMessage
	if err := json.Unmarshal(p.body, &req); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	var par map[string]json.RawMessage
	if err := json.Unmarshal(req["parent"], &par); err != nil {
		return fmt.Errorf("request parent: %w", err)
	}
	par["status"] = resp.Status
	b, err := json.Marshal(par)
	if err != nil {
		return err
	}
	req["parent"] = b
	if p.body, err = json.Marshal(req); err != nil {
		return err
	}
	p.status = resp.Status
	return nil
}

// sample is what one request measured.
type sample struct {
	due, sent, done time.Time
	err             error
}

// loadResult is the outcome of the requests due within a window.
type loadResult struct {
	samples []sample
}

// runLoad sends requests[i] every period, evenly spread, from start until ctx ends, with
// workers concurrent clients, and returns every sample.
func runLoad(ctx context.Context, url string, requests []*parent, period time.Duration, workers int) loadResult {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: workers, MaxIdleConnsPerHost: workers, IdleConnTimeout: time.Minute}}
	jobs := make(chan job, len(requests))
	results := make(chan sample, 4096)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				results <- send(client, url, j)
			}
		})
	}
	var res loadResult
	collected := make(chan struct{})
	go func() {
		for s := range results {
			res.samples = append(res.samples, s)
		}
		close(collected)
	}()
	schedule(ctx, requests, period, jobs)
	close(jobs)
	wg.Wait()
	close(results)
	<-collected
	client.CloseIdleConnections()
	return res
}

// schedule puts each request on jobs when it is due, until ctx ends.
func schedule(ctx context.Context, requests []*parent, period time.Duration, jobs chan<- job) {
	step := period / time.Duration(len(requests))
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for k := 0; ; k++ {
		due := start.Add(time.Duration(k) * step)
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case jobs <- job{due: due, rf: requests[k%len(requests)]}:
		case <-ctx.Done():
			return
		}
	}
}

// send posts one sync request and reads the whole response.
func send(client *http.Client, url string, j job) sample {
	s := sample{due: j.due, sent: time.Now()}
	var body []byte
	resp, err := client.Post(url, "application/json", bytes.NewReader(j.rf.request()))
	if err == nil {
		body, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
	}
	s.done, s.err = time.Now(), err
	if err == nil {
		s.err = j.rf.answered(body)
	}
	return s
}

// window is the summary of the requests answered within [from, to): a saturated server
// answers fewer than are due, and those it answers waited in the queue.
type window struct {
	served, errors int
	p50, p99       time.Duration
	maxQueued      time.Duration
}

// summarize returns the summary of the samples answered within [from, to).
func (r loadResult) summarize(from, to time.Time) window {
	var w window
	var lat []time.Duration
	for _, s := range r.samples {
		if s.done.Before(from) || !s.done.Before(to) {
			continue
		}
		if s.err != nil {
			w.errors++
			continue
		}
		w.served++
		lat = append(lat, s.done.Sub(s.sent))
		w.maxQueued = max(w.maxQueued, s.sent.Sub(s.due))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	w.p50, w.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return w
}

// firstError is the error of the first failed sample, for the report.
func (r loadResult) firstError() error {
	for _, s := range r.samples {
		if s.err != nil {
			return s.err
		}
	}
	return nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}
