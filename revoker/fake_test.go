package revoker_test

import (
	"context"
	"sync"

	"github.com/revocast/revocast/events"
)

// memLog is an in-memory Log for failure injection only; integration tests use store/redisstore.
type memLog struct {
	mu      sync.Mutex
	recs    []events.Revocation
	appends int
	// failAppend, if set, is called with the 0-based index of each Append call; a non-nil result
	// fails that call and appends nothing.
	failAppend func(call int) error
	failHead   error
	// afterAppend, if set, is called after each successful Append call.
	afterAppend func(call int)
}

func (m *memLog) Append(ctx context.Context, recs []events.Revocation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	call := m.appends
	m.appends++
	if m.failAppend != nil {
		if err := m.failAppend(call); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range recs {
		recs[i].Seq = uint64(len(m.recs)) + 1
		m.recs = append(m.recs, recs[i])
	}
	if m.afterAppend != nil {
		m.afterAppend(call)
	}
	return nil
}

func (m *memLog) Head(ctx context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failHead != nil {
		return 0, m.failHead
	}
	return uint64(len(m.recs)), nil
}

func (m *memLog) all() []events.Revocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]events.Revocation(nil), m.recs...)
}
