package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/revocast/revocast/events"
)

const (
	apiPrefix    = "$JS.API."
	readTimeout  = 5 * time.Second  // one read request, or a pause in a batch's replies
	retryFor     = 15 * time.Second // transient failures in a row (no leader, no responder)
	maxReadBytes = 8 << 20          // bytes per direct-get batch (the client's pending limit is 64 MiB)
)

// writeTimeout bounds one publish or commit (a variable for the lost-acknowledgement test).
var writeTimeout = 5 * time.Second

// Errors that say a request reached nothing able to answer yet; retried.
var (
	errNothingStored = errors.New("nothing stored")
	errUnavailable   = errors.New("jetstream temporarily unavailable")
)

// transient reports whether err is worth retrying: nothing answered, or JetStream said it is
// temporarily unavailable (a leader election). An unknown outcome is never transient.
func transient(err error) bool {
	if errors.Is(err, ErrUnknownOutcome) {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 503
	}
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, errNothingStored) || errors.Is(err, errUnavailable)
}

// retry calls f, each time with a timeout of per, until it succeeds, fails otherwise than
// transiently, ctx ends, or transient failures have lasted retryFor.
func retry(ctx context.Context, per time.Duration, f func(ctx context.Context) error) error {
	deadline := time.Now().Add(retryFor)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		actx, cancel := context.WithTimeout(ctx, per)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if !transient(err) || time.Now().After(deadline) {
			return err
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// cbError carries an error of the caller's callback through read, returned as is.
type cbError struct{ err error }

func (e cbError) Error() string { return e.err.Error() }

// batchEnd says how a direct-get batch ended.
type batchEnd int

const (
	endMore batchEnd = iota // the replica holds more after the batch
	endDone                 // the head was reached or passed
	endNone                 // the replica holds nothing more
)

// read calls fn with every entry with from <= seq <= head, in increasing order, until fn returns an
// error (returned as is). Entries that do not decode go to the error handler and are skipped.
// It reads with batched direct gets of up to per entries, from any replica; when a replica has
// nothing more below head it asks the leader, so a lagging follower never ends a read early.
func (s *Store) read(ctx context.Context, from, head uint64, per int, fn func(r events.Revocation) error) error {
	deliver := func(seq uint64, data []byte) error {
		r, err := events.DecodeRevocation(data)
		if err != nil {
			s.o.onError(fmt.Errorf("jsstore: entry %d skipped: %w", seq, err))
			return nil
		}
		r.Seq = seq
		if err := fn(r); err != nil {
			return cbError{err}
		}
		return nil
	}
	var failing time.Time // start of the current run of transient failures
	wait := 10 * time.Millisecond
	for from <= head {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, end, err := s.directBatch(ctx, from, head, per, deliver)
		if next > from {
			from, failing, wait = next, time.Time{}, 10*time.Millisecond
		}
		var cb cbError
		switch {
		case errors.As(err, &cb):
			return cb.err
		case err != nil:
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if failing.IsZero() {
				failing = time.Now()
			}
			if !transient(err) || time.Since(failing) > retryFor {
				return fmt.Errorf("jsstore: read: %w", err)
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			wait = min(2*wait, 500*time.Millisecond)
			continue
		case end == endDone || from > head:
			return nil
		case end == endMore:
			continue
		}
		// This replica has nothing at or after from: nothing is left below head, or it lags.
		seq, data, err := s.leaderNext(ctx, from)
		if err != nil {
			return err
		}
		if seq == 0 || seq > head {
			return nil
		}
		if err := deliver(seq, data); err != nil {
			return err.(cbError).err
		}
		from = seq + 1
	}
	return nil
}

// directBatch asks any replica for up to per entries from seq from on and passes those up to head to
// deliver. It returns the sequence to continue from (from, when nothing was delivered) and how the
// batch ended.
func (s *Store) directBatch(ctx context.Context, from, head uint64, per int, deliver func(uint64, []byte) error) (uint64, batchEnd, error) {
	next := from
	inbox := s.nc.NewInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return next, 0, err
	}
	defer sub.Unsubscribe() //nolint:errcheck // the rest of the batch, if any, is dropped
	n := min(uint64(per), head-from+1)
	req := fmt.Appendf(nil, `{"seq":%d,"batch":%d,"max_bytes":%d}`, from, n, maxReadBytes)
	if err := s.nc.PublishRequest(apiPrefix+"DIRECT.GET."+s.o.stream, inbox, req); err != nil {
		return next, 0, err
	}
	// A batch is at most maxReadBytes: readTimeout bounds it as a whole.
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return next, 0, err
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
			if err != nil || seq < next {
				return next, 0, fmt.Errorf("%w: direct get: sequence %q after %d", ErrReply, m.Header.Get(jetstream.SequenceHeader), next)
			}
			if seq > head {
				return next, endDone, nil
			}
			if err := deliver(seq, m.Data); err != nil {
				return next, 0, err
			}
			next = seq + 1
			if seq == head {
				return next, endDone, nil
			}
		case "204": // end of batch
			if m.Header.Get("Nats-Num-Pending") == "0" || next == from {
				return next, endNone, nil
			}
			return next, endMore, nil
		case "404":
			return next, endNone, nil
		case "503":
			return next, 0, nats.ErrNoResponders
		default:
			return next, 0, fmt.Errorf("%w: direct get: %s %s", ErrReply, status, m.Header.Get("Description"))
		}
	}
}

// leaderNext asks the stream leader for the first entry with seq >= from; 0 when there is none.
func (s *Store) leaderNext(ctx context.Context, from uint64) (uint64, []byte, error) {
	req := fmt.Appendf(nil, `{"seq":%d,"next_by_subj":%q}`, from, s.o.subject)
	var resp struct {
		Message *struct {
			Seq  uint64 `json:"seq"`
			Data []byte `json:"data"`
		} `json:"message"`
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	err := retry(ctx, readTimeout, func(ctx context.Context) error {
		m, err := s.nc.RequestWithContext(ctx, apiPrefix+"STREAM.MSG.GET."+s.o.stream, req)
		if err != nil {
			return err
		}
		resp.Message, resp.Error = nil, nil
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			return fmt.Errorf("%w: %v", ErrReply, err)
		}
		if resp.Error != nil && resp.Error.Code == 503 {
			return fmt.Errorf("%w: %s", errUnavailable, resp.Error.Description)
		}
		return nil
	})
	switch {
	case err != nil:
		return 0, nil, fmt.Errorf("jsstore: read: %w", err)
	case resp.Error != nil && resp.Error.Code == 404:
		return 0, nil, nil
	case resp.Error != nil:
		return 0, nil, fmt.Errorf("jsstore: read: %s (%d)", resp.Error.Description, resp.Error.ErrCode)
	case resp.Message == nil:
		return 0, nil, fmt.Errorf("%w: message get without a message", ErrReply)
	}
	return resp.Message.Seq, resp.Message.Data, nil
}
