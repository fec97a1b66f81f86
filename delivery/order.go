package delivery

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/caddy-antom/caddy-antom/outbox"
)

// orderRecheck is how long an event waiting for an earlier one of its payment is passed over
// before it is looked at again, in case the earlier one was finished elsewhere (another
// instance, an operator) and this Dispatcher was not told.
const orderRecheck = 10 * time.Second

// orderIndex knows the pending events that have an OrderKey, per route and key, in the order
// received, so an event is delivered only when it is the first of its payment still pending.
// Run fills it from the store when it starts, so the order holds across restarts.
type orderIndex struct {
	mu   sync.Mutex
	keys map[string][]orderEntry // route + "\n" + OrderKey -> entries, oldest first
}

type orderEntry struct {
	id string
	at time.Time
}

func orderKeyOf(ev *outbox.Event) string { return ev.Route + "\n" + ev.OrderKey }

func (e orderEntry) compare(o orderEntry) int {
	return cmp.Or(e.at.Compare(o.at), cmp.Compare(e.id, o.id))
}

// add records a pending event (once).
func (x *orderIndex) add(ev *outbox.Event) {
	if ev.OrderKey == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.keys == nil {
		x.keys = map[string][]orderEntry{}
	}
	k, e := orderKeyOf(ev), orderEntry{id: ev.ID, at: ev.ReceivedAt}
	list := x.keys[k]
	i, found := slices.BinarySearchFunc(list, e, orderEntry.compare)
	if !found {
		x.keys[k] = slices.Insert(list, i, e)
	}
}

// remove forgets an event that is no longer pending.
func (x *orderIndex) remove(ev *outbox.Event) { x.removeID(orderKeyOf(ev), ev.ID) }

func (x *orderIndex) removeID(key, id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	list := slices.DeleteFunc(x.keys[key], func(e orderEntry) bool { return e.id == id })
	if len(list) == 0 {
		delete(x.keys, key)
	} else {
		x.keys[key] = list
	}
}

// head returns the id of the first pending event of ev's payment; ev itself when ev is first.
func (x *orderIndex) head(ev *outbox.Event) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if list := x.keys[orderKeyOf(ev)]; len(list) > 0 {
		return list[0].id
	}
	return ev.ID
}
