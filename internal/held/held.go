// Package held remembers, in memory, what storage could not record about a record that is
// retried on a schedule (an event's delivery, a payment's inquiry): how many attempts were
// made and when the next one is due. Without it, a record whose update failed (a read-only or
// full disk) stays due in storage and is retried at every poll, with its attempt count stuck.
package held

import (
	"sync"
	"time"
)

// Set is the records held back, by id. The zero value is ready to use; it is safe for
// concurrent use.
type Set struct {
	mu sync.Mutex
	m  map[string]entry
}

type entry struct {
	attempts int
	next     time.Time
}

// Hold records that id made attempts and waits until next. again reports whether id was held
// already (a repeated failure, worth less noise in the log).
func (s *Set) Hold(id string, attempts int, next time.Time) (again bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]entry{}
	}
	_, again = s.m[id]
	s.m[id] = entry{attempts: attempts, next: next}
	return again
}

// Release forgets id: storage is up to date again.
func (s *Set) Release(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// Waiting reports whether id is held back beyond t.
func (s *Set) Waiting(id string, t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	return ok && e.next.After(t)
}

// Until is when id's next attempt is due; the zero time if it is not held.
func (s *Set) Until(id string) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id].next
}

// Attempts is the number of attempts held for id; 0 if it is not held.
func (s *Set) Attempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id].attempts
}

// Forget drops the ids whose next attempt is before t: if the retry loop never got to them
// again, storage no longer lists them as due (another instance finished them).
func (s *Set) Forget(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.m {
		if e.next.Before(t) {
			delete(s.m, id)
		}
	}
}
