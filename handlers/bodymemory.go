package handlers

import "sync"

// maxBodyMemory bounds the memory held by notification bodies being read, across every
// antom_webhook of the process: 256 notifications of the default max_body at once. A client that
// sends headers and then trickles or stalls its body holds its share only until read_timeout.
const maxBodyMemory = 16 << 20

// bodyMemory is the process-wide budget; over it a notification gets 503 and Antom retries.
var bodyMemory = &byteBudget{limit: maxBodyMemory}

// byteBudget is a counting semaphore over bytes that never waits.
type byteBudget struct {
	mu          sync.Mutex
	limit, used int64
}

// acquire reserves n bytes, or reports false when that would exceed the limit.
func (b *byteBudget) acquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.limit {
		return false
	}
	b.used += n
	return true
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
}
