package revoker_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/store/redisstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixed is the clock of the unit tests: a time with sub-microsecond digits.
var fixed = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func fixedClock() time.Time { return fixed }

// env is one real NATS server and one real redis-server with a redisstore on it.
type env struct {
	nats  *testenv.NATS
	nc    *nats.Conn // the revoker's connection
	sub   *nats.Conn // a raw subscriber's connection
	store *redisstore.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	rd := testenv.StartRedis(t, testenv.RedisOptions{})
	return &env{nats: n, nc: n.Connect(t), sub: n.Connect(t), store: redisstore.New(rd.Client(t))}
}

// subscribe subscribes to subject with no pending limits and a delivery channel with room for
// the 100k batch.
func subscribe(t *testing.T, nc *nats.Conn, subject string) <-chan *nats.Msg {
	t.Helper()
	ch := make(chan *nats.Msg, 200_000)
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) { ch <- m })
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return ch
}

// receive returns the next message from ch, failing the test after 10s.
func receive(t *testing.T, ch <-chan *nats.Msg) *nats.Msg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

func mustNew(t testing.TB, nc *nats.Conn, log revoker.Log, opts ...revoker.Option) *revoker.Revoker {
	t.Helper()
	r, err := revoker.New(nc, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRevokeAppendsThenPublishes(t *testing.T) {
	e := newEnv(t)
	r := mustNew(t, e.nc, e.store, revoker.WithOrigin("test-1"))
	// The callback runs when the message arrives and checks that the store already has it.
	type got struct {
		rev  events.Revocation
		head uint64
		err  error
	}
	gotc := make(chan got, 4)
	sub, err := e.sub.Subscribe(events.RevocationSubject(events.DefaultPrefix), func(m *nats.Msg) {
		rev, err := events.DecodeRevocation(m.Data)
		var head uint64
		if err == nil {
			head, err = e.store.Head(context.Background())
		}
		gotc <- got{rev, head, err}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := e.sub.Flush(); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		seq, err := r.Revoke(ctx, events.Revocation{Kind: events.KindSession, ID: fmt.Sprintf("sid-%d", i), Reason: "logout"})
		if err != nil {
			t.Fatal(err)
		}
		if seq != uint64(i) {
			t.Fatalf("seq = %d, want %d", seq, i)
		}
		var g got
		select {
		case g = <-gotc:
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		if g.err != nil {
			t.Fatal(g.err)
		}
		if g.rev.Seq != seq || g.rev.ID != fmt.Sprintf("sid-%d", i) || g.rev.Origin != "test-1" || g.rev.Reason != "logout" {
			t.Fatalf("published %+v, want seq %d", g.rev, seq)
		}
		if g.head < seq {
			t.Fatalf("store head %d < published seq %d: published before durable", g.head, seq)
		}
	}
	if s := r.Stats(); s.Appended != 3 || s.Published != 3 || s.PublishErrors != 0 || s.AppendLatency.Count != 3 || s.ByKind["session"] != 3 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRevokeFillsDefaults(t *testing.T) {
	const life, leeway = 10 * time.Minute, 20 * time.Second
	nbf := fixed.Truncate(time.Microsecond).Add(time.Microsecond) // fixed rounded up
	given := fixed.Add(-time.Hour)
	tests := []struct {
		name string
		in   events.Revocation
		want events.Revocation
	}{
		{"token", events.Revocation{Kind: events.KindToken, ID: "j"},
			events.Revocation{Kind: events.KindToken, ID: "j", RevokedAt: fixed, DropAfter: fixed.Add(life + leeway), Origin: "o"}},
		{"token with exp-based drop", events.Revocation{Kind: events.KindToken, ID: "j", DropAfter: fixed.Add(time.Minute), Origin: "caller"},
			events.Revocation{Kind: events.KindToken, ID: "j", RevokedAt: fixed, DropAfter: fixed.Add(time.Minute), Origin: "caller"}},
		{"session", events.Revocation{Kind: events.KindSession, ID: "s"},
			events.Revocation{Kind: events.KindSession, ID: "s", RevokedAt: fixed, DropAfter: fixed.Add(life + leeway), Origin: "o"}},
		{"subject", events.Revocation{Kind: events.KindSubject, ID: "u"},
			events.Revocation{Kind: events.KindSubject, ID: "u", RevokedAt: fixed, NotBefore: nbf, DropAfter: nbf.Add(life + leeway), Origin: "o"}},
		{"all", events.Revocation{Kind: events.KindAll},
			events.Revocation{Kind: events.KindAll, RevokedAt: fixed, NotBefore: nbf, DropAfter: nbf.Add(life + leeway), Origin: "o"}},
		{"subject with given times", events.Revocation{Kind: events.KindSubject, ID: "u", RevokedAt: given, NotBefore: given},
			events.Revocation{Kind: events.KindSubject, ID: "u", RevokedAt: given, NotBefore: given, DropAfter: given.Add(life + leeway), Origin: "o"}},
		{"all with past not_before", events.Revocation{Kind: events.KindAll, NotBefore: given},
			events.Revocation{Kind: events.KindAll, RevokedAt: fixed, NotBefore: given, DropAfter: fixed.Add(life + leeway), Origin: "o"}},
		{"seq is ignored", events.Revocation{Seq: 99, Kind: events.KindToken, ID: "j"},
			events.Revocation{Kind: events.KindToken, ID: "j", RevokedAt: fixed, DropAfter: fixed.Add(life + leeway), Origin: "o"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &memLog{}
			r := mustNew(t, nil, log, revoker.WithClock(fixedClock), revoker.WithOrigin("o"),
				revoker.WithMaxTokenLifetime(life), revoker.WithLeeway(leeway))
			seq, err := r.Revoke(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			recs := log.all()
			if len(recs) != 1 || seq != 1 {
				t.Fatalf("seq %d, %d records", seq, len(recs))
			}
			want := tt.want
			want.Seq = 1
			if !reflect.DeepEqual(recs[0], want) {
				t.Fatalf("appended\n %+v\nwant\n %+v", recs[0], want)
			}
		})
	}
}

// TestNotBeforePrecision checks the promise of Revoke's doc: with iat = IssuedAt(mint time), a
// token minted before RevokedAt matches and one minted at or after the moment Revoke returns does
// not, even when both fall in the same second.
func TestNotBeforePrecision(t *testing.T) {
	for _, revokedAt := range []time.Time{fixed, fixed.Truncate(time.Microsecond), fixed.Truncate(time.Second)} {
		log := &memLog{}
		now := revokedAt
		r := mustNew(t, nil, log, revoker.WithClock(func() time.Time { return now }))
		if _, err := r.Revoke(context.Background(), events.Revocation{Kind: events.KindSubject, ID: "u"}); err != nil {
			t.Fatal(err)
		}
		rec := log.all()[0]
		for _, d := range []time.Duration{-time.Second, -time.Microsecond, -time.Nanosecond} {
			if iat := revoker.IssuedAt(revokedAt.Add(d)); !rec.Matches("", "", "u", iat) {
				t.Errorf("revoked at %v: token minted %v before (iat %v) not revoked (not_before %v)", revokedAt, -d, iat, rec.NotBefore)
			}
		}
		// Revoke returns at least one store round trip after RevokedAt: well over a microsecond.
		for _, d := range []time.Duration{time.Microsecond + time.Nanosecond, 2 * time.Microsecond, time.Millisecond} {
			if iat := revoker.IssuedAt(revokedAt.Add(d)); rec.Matches("", "", "u", iat) {
				t.Errorf("revoked at %v: token minted %v after (iat %v) revoked (not_before %v)", revokedAt, d, iat, rec.NotBefore)
			}
		}
	}
}

func TestRevokeValidation(t *testing.T) {
	tests := []struct {
		name string
		rev  events.Revocation
		want error
	}{
		{"zero kind", events.Revocation{ID: "x"}, events.ErrKind},
		{"unknown kind", events.Revocation{Kind: 9, ID: "x"}, events.ErrKind},
		{"token without id", events.Revocation{Kind: events.KindToken}, events.ErrID},
		{"session without id", events.Revocation{Kind: events.KindSession}, events.ErrID},
		{"subject without id", events.Revocation{Kind: events.KindSubject}, events.ErrID},
		{"id with space", events.Revocation{Kind: events.KindToken, ID: "a b"}, events.ErrID},
		{"id with wildcard", events.Revocation{Kind: events.KindSession, ID: "a*"}, events.ErrID},
		{"id too long", events.Revocation{Kind: events.KindToken, ID: strings.Repeat("x", events.MaxIDLen+1)}, events.ErrID},
		{"id invalid utf-8", events.Revocation{Kind: events.KindToken, ID: "\xff"}, events.ErrID},
		{"all with id", events.Revocation{Kind: events.KindAll, ID: "x"}, events.ErrID},
		{"token with not_before", events.Revocation{Kind: events.KindToken, ID: "x", NotBefore: fixed}, events.ErrField},
		{"drop_after before revoked_at", events.Revocation{Kind: events.KindToken, ID: "x", DropAfter: fixed.Add(-time.Second)}, events.ErrField},
		{"reason too long", events.Revocation{Kind: events.KindToken, ID: "x", Reason: strings.Repeat("r", events.MaxReasonLen+1)}, events.ErrField},
		{"bad origin", events.Revocation{Kind: events.KindToken, ID: "x", Origin: "a b"}, events.ErrField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &memLog{}
			r := mustNew(t, nil, log, revoker.WithClock(fixedClock))
			_, err := r.Revoke(context.Background(), tt.rev)
			if !errors.Is(err, revoker.ErrInvalid) || !errors.Is(err, tt.want) {
				t.Fatalf("Revoke error %v, want ErrInvalid and %v", err, tt.want)
			}
			_, err = r.RevokeBatch(context.Background(), []events.Revocation{{Kind: events.KindToken, ID: "ok"}, tt.rev})
			if !errors.Is(err, revoker.ErrInvalid) || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "revocation 1") {
				t.Fatalf("RevokeBatch error %v, want ErrInvalid and %v at index 1", err, tt.want)
			}
			if log.appends != 0 || r.Stats().Appended != 0 {
				t.Fatalf("%d appends after invalid input", log.appends)
			}
		})
	}
}

func TestOptionsInvalid(t *testing.T) {
	tests := []struct {
		name string
		opt  revoker.Option
	}{
		{"empty prefix", revoker.WithPrefix("")},
		{"wildcard prefix", revoker.WithPrefix("a.>")},
		{"prefix with space", revoker.WithPrefix("a b")},
		{"prefix trailing dot", revoker.WithPrefix("a.")},
		{"origin with space", revoker.WithOrigin("a b")},
		{"origin too long", revoker.WithOrigin(strings.Repeat("o", events.MaxOriginLen+1))},
		{"zero heartbeat", revoker.WithHeartbeatInterval(0)},
		{"zero lifetime", revoker.WithMaxTokenLifetime(0)},
		{"negative leeway", revoker.WithLeeway(-time.Second)},
		{"zero chunk", revoker.WithBatchChunk(0)},
		{"zero flush timeout", revoker.WithFlushTimeout(0)},
		{"nil clock", revoker.WithClock(nil)},
		{"nil handler", revoker.WithErrorHandler(nil)},
		{"nil logger", revoker.WithLogger(nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := revoker.New(nil, &memLog{}, tt.opt); !errors.Is(err, revoker.ErrOption) {
				t.Fatalf("New error %v, want ErrOption", err)
			}
		})
	}
	if _, err := revoker.New(nil, nil); !errors.Is(err, revoker.ErrOption) {
		t.Fatalf("New(nil log) error %v, want ErrOption", err)
	}
	r := mustNew(t, nil, &memLog{})
	if err := (&events.Heartbeat{Origin: r.Origin(), Time: fixed}).Validate(); err != nil || r.Origin() == "" {
		t.Fatalf("default origin %q: %v", r.Origin(), err)
	}
}

// errHandler collects the errors passed to a Revoker's error handler.
type errHandler struct {
	mu   sync.Mutex
	errs []error
}

func (h *errHandler) handle(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, err)
}

func (h *errHandler) get() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}

func TestRevokeStoreFailure(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	nc, subc := n.Connect(t), n.Connect(t)
	ch := subscribe(t, subc, events.RevocationSubject(events.DefaultPrefix))
	boom := errors.New("boom")
	log := &memLog{failAppend: func(int) error { return boom }}
	r := mustNew(t, nc, log)

	seq, err := r.Revoke(context.Background(), events.Revocation{Kind: events.KindToken, ID: "j"})
	if seq != 0 || !errors.Is(err, revoker.ErrStore) || !errors.Is(err, boom) {
		t.Fatalf("Revoke = %d, %v; want 0 and ErrStore wrapping boom", seq, err)
	}
	// NATS keeps one connection's messages in order: if the marker is the first message, the
	// failed Revoke published nothing.
	if err := nc.Publish(events.RevocationSubject(events.DefaultPrefix), []byte("marker")); err != nil {
		t.Fatal(err)
	}
	if m := receive(t, ch); string(m.Data) != "marker" {
		t.Fatalf("got %q before the marker: a failed append was published", m.Data)
	}
	if s := r.Stats(); s.Appended != 0 || s.Published != 0 || s.PublishErrors != 0 || s.ByKind["token"] != 0 ||
		s.AppendErrors != 1 || s.AppendLatency.Count != 1 {
		t.Fatalf("stats %+v after a failed append: want nothing appended or published, one append error timed", s)
	}
}

func TestRevokePublishFailure(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	nc := n.Connect(t)
	nc.Close()
	var h errHandler
	log := &memLog{}
	r := mustNew(t, nc, log, revoker.WithErrorHandler(h.handle))
	seq, err := r.Revoke(context.Background(), events.Revocation{Kind: events.KindToken, ID: "j"})
	if err != nil || seq != 1 {
		t.Fatalf("Revoke = %d, %v; a durable revocation must succeed even if the publish fails", seq, err)
	}
	if s := r.Stats(); s.Appended != 1 || s.Published != 0 || s.PublishErrors != 1 {
		t.Fatalf("stats %+v", s)
	}
	errs := h.get()
	if len(errs) != 1 || !errors.Is(errs[0], revoker.ErrPublish) || !errors.Is(errs[0], nats.ErrConnectionClosed) {
		t.Fatalf("handler got %v, want one ErrPublish wrapping nats.ErrConnectionClosed", errs)
	}

	// A batch reports one error per chunk, counts every event.
	r = mustNew(t, nc, log, revoker.WithErrorHandler(h.handle), revoker.WithBatchChunk(10))
	if _, err := r.RevokeBatch(context.Background(), tokens("b", 25)); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Appended != 25 || s.PublishErrors != 25 {
		t.Fatalf("stats %+v", s)
	}
	if got := len(h.get()); got != 1+3 {
		t.Fatalf("handler called %d times, want 4", got)
	}
}

func TestStoreOnlyRevoker(t *testing.T) {
	log := &memLog{}
	r := mustNew(t, nil, log)
	if _, err := r.Revoke(context.Background(), events.Revocation{Kind: events.KindToken, ID: "j"}); err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Appended != 1 || s.Published != 0 || s.PublishErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
}

// tokens returns n token revocations with distinct jtis.
func tokens(prefix string, n int) []events.Revocation {
	revs := make([]events.Revocation, n)
	for i := range revs {
		revs[i] = events.Revocation{Kind: events.KindToken, ID: prefix + "-" + fmt.Sprint(i)}
	}
	return revs
}

func TestRevokeBatchLarge(t *testing.T) {
	const n = 100_000
	e := newEnv(t)
	ch := subscribe(t, e.sub, events.RevocationSubject(events.DefaultPrefix))
	var h errHandler
	r := mustNew(t, e.nc, e.store, revoker.WithErrorHandler(h.handle))
	revs := tokens("jti", n)
	last, err := r.RevokeBatch(context.Background(), revs)
	if err != nil {
		t.Fatal(err)
	}
	if last != n {
		t.Fatalf("last = %d, want %d", last, n)
	}
	if revs[0].Seq != 0 || !revs[0].RevokedAt.IsZero() {
		t.Fatal("RevokeBatch modified its input")
	}
	if head, err := e.store.Head(context.Background()); err != nil || head != n {
		t.Fatalf("head = %d, %v", head, err)
	}
	seen := make([]bool, n+1)
	for i := 0; i < n; i++ {
		rev, err := events.DecodeRevocation(receive(t, ch).Data)
		if err != nil {
			t.Fatal(err)
		}
		if rev.Seq == 0 || rev.Seq > n || seen[rev.Seq] {
			t.Fatalf("bad or duplicate seq %d", rev.Seq)
		}
		seen[rev.Seq] = true
		if want := fmt.Sprintf("jti-%d", rev.Seq-1); rev.ID != want {
			t.Fatalf("seq %d has id %q, want %q (order along the batch)", rev.Seq, rev.ID, want)
		}
	}
	if s := r.Stats(); s.Appended != n || s.Published != n || s.PublishErrors != 0 || len(h.get()) != 0 {
		t.Fatalf("stats %+v, errors %v", s, h.get())
	}
	// Everything is in the store too.
	recs, head, err := e.store.After(context.Background(), n-10, 100)
	if err != nil || head != n || len(recs) != 10 || recs[9].ID != fmt.Sprintf("jti-%d", n-1) {
		t.Fatalf("After: %d recs, head %d, %v", len(recs), head, err)
	}
}

func TestRevokeBatchPartialFailure(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	nc, subc := n.Connect(t), n.Connect(t)
	ch := subscribe(t, subc, events.RevocationSubject(events.DefaultPrefix))
	boom := errors.New("boom")
	log := &memLog{failAppend: func(call int) error {
		if call == 2 {
			return boom
		}
		return nil
	}}
	r := mustNew(t, nc, log, revoker.WithBatchChunk(10))
	last, err := r.RevokeBatch(context.Background(), tokens("j", 45))
	var be *revoker.BatchError
	if !errors.As(err, &be) || !errors.Is(err, revoker.ErrStore) || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want *BatchError wrapping ErrStore and boom", err)
	}
	if be.Durable != 20 || be.Last != 20 || last != 20 {
		t.Fatalf("Durable %d Last %d last %d, want 20", be.Durable, be.Last, last)
	}
	if got := len(log.all()); got != 20 || log.appends != 3 {
		t.Fatalf("%d records in %d appends, want 20 in 3", got, log.appends)
	}
	// The durable prefix was published, in order, and nothing else.
	if err := nc.Publish(events.RevocationSubject(events.DefaultPrefix), []byte("marker")); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		rev, err := events.DecodeRevocation(receive(t, ch).Data)
		if err != nil || rev.Seq != uint64(i) {
			t.Fatalf("message %d: seq %d, %v", i, rev.Seq, err)
		}
	}
	if m := receive(t, ch); string(m.Data) != "marker" {
		t.Fatalf("extra message %q", m.Data)
	}
}

func TestRevokeBatchCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := &memLog{afterAppend: func(call int) {
		if call == 1 {
			cancel() // the second chunk succeeds, then the caller gives up
		}
	}}
	r := mustNew(t, nil, log, revoker.WithBatchChunk(10))
	last, err := r.RevokeBatch(ctx, tokens("j", 45))
	var be *revoker.BatchError
	if !errors.As(err, &be) || !errors.Is(err, context.Canceled) || errors.Is(err, revoker.ErrStore) {
		t.Fatalf("err = %v, want *BatchError wrapping context.Canceled", err)
	}
	if be.Durable != 20 || last != 20 || len(log.all()) != 20 {
		t.Fatalf("Durable %d, last %d, %d stored; want 20", be.Durable, last, len(log.all()))
	}
}

func TestRevokeBatchEmpty(t *testing.T) {
	log := &memLog{}
	r := mustNew(t, nil, log)
	if last, err := r.RevokeBatch(context.Background(), nil); last != 0 || err != nil || log.appends != 0 {
		t.Fatalf("= %d, %v, %d appends", last, err, log.appends)
	}
}

func TestConcurrentRevoke(t *testing.T) {
	const workers, each = 8, 50
	e := newEnv(t)
	ch := subscribe(t, e.sub, events.RevocationSubject(events.DefaultPrefix))
	r := mustNew(t, e.nc, e.store)
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := r.Revoke(context.Background(), events.Revocation{Kind: events.KindSession, ID: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					errc <- err
					return
				}
			}
			if _, err := r.RevokeBatch(context.Background(), tokens(fmt.Sprintf("b%d", w), each)); err != nil {
				errc <- err
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	const total = 2 * workers * each
	seen := make(map[uint64]bool)
	for range total {
		rev, err := events.DecodeRevocation(receive(t, ch).Data)
		if err != nil || seen[rev.Seq] || rev.Seq == 0 || rev.Seq > total {
			t.Fatalf("seq %d: %v", rev.Seq, err)
		}
		seen[rev.Seq] = true
	}
	if s := r.Stats(); s.Appended != total || s.Published != total {
		t.Fatalf("stats %+v", s)
	}
}

func TestHeartbeat(t *testing.T) {
	e := newEnv(t)
	ch := subscribe(t, e.sub, events.HeartbeatSubject("hb.test"))
	r := mustNew(t, e.nc, e.store, revoker.WithPrefix("hb.test"), revoker.WithOrigin("hb-1"),
		revoker.WithHeartbeatInterval(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	next := func() events.Heartbeat {
		t.Helper()
		h, err := events.DecodeHeartbeat(receive(t, ch).Data)
		if err != nil {
			t.Fatal(err)
		}
		if h.Origin != "hb-1" || h.Time.IsZero() {
			t.Fatalf("heartbeat %+v", h)
		}
		return h
	}
	if h := next(); h.Head != 0 {
		t.Fatalf("head %d on an empty store", h.Head)
	}
	// Another writer appends straight to the store (as a second revoker, or one killed before it
	// published): the heartbeat must announce the store's head, not a local count.
	if err := e.store.Append(context.Background(), []events.Revocation{{Kind: events.KindToken, ID: "x",
		RevokedAt: time.Now(), DropAfter: time.Now().Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, func() error {
		if h := next(); h.Head != 1 {
			return fmt.Errorf("head %d, want 1", h.Head)
		}
		return nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if s := r.Stats(); s.Heartbeats < 2 || s.HeartbeatErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHeartbeatFailures(t *testing.T) {
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	boom := errors.New("boom")
	var h errHandler
	r := mustNew(t, n.Connect(t), &memLog{failHead: boom}, revoker.WithHeartbeatInterval(5*time.Millisecond),
		revoker.WithErrorHandler(h.handle))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	testenv.WaitFor(t, 10*time.Second, func() error {
		if s := r.Stats(); s.HeartbeatErrors < 3 {
			return fmt.Errorf("%d heartbeat errors", s.HeartbeatErrors)
		}
		return nil
	})
	cancel()
	<-done
	for _, err := range h.get() {
		if !errors.Is(err, revoker.ErrHeartbeat) || !errors.Is(err, boom) {
			t.Fatalf("handler got %v", err)
		}
	}
	if r.Stats().Heartbeats != 0 {
		t.Fatal("heartbeat sent without a head")
	}

	// A closed connection: the head is read, the publish fails.
	nc := n.Connect(t)
	nc.Close()
	r = mustNew(t, nc, &memLog{}, revoker.WithHeartbeatInterval(5*time.Millisecond), revoker.WithErrorHandler(h.handle))
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- r.Run(ctx) }()
	testenv.WaitFor(t, 10*time.Second, func() error {
		if s := r.Stats(); s.HeartbeatErrors < 2 {
			return fmt.Errorf("%d heartbeat errors", s.HeartbeatErrors)
		}
		return nil
	})
	cancel()
	<-done
	errs := h.get()
	if last := errs[len(errs)-1]; !errors.Is(last, revoker.ErrHeartbeat) || !errors.Is(last, nats.ErrConnectionClosed) {
		t.Fatalf("handler got %v", last)
	}
}
