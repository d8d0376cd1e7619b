package subscriber

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/revocast/revocast/events"
	"github.com/revocast/revocast/internal/testenv"
	"github.com/revocast/revocast/revoker"
)

// TestSignedEvents: with trusted keys, a forged event signed by an untrusted key, an unsigned one,
// a replayed old one, a forged heartbeat, a replayed heartbeat and an unsigned entry met while
// catching up are all dropped and counted, and the cache does not change; signed events apply.
func TestSignedEvents(t *testing.T) {
	e := newEnv(t)
	n := testenv.StartNATS(t, testenv.NATSOptions{})
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, evil, _ := ed25519.GenerateKey(rand.Reader)
	ctx := context.Background()

	// Capture what the revoker really publishes, to replay it later.
	raw := n.Connect(t)
	captured := make(chan *nats.Msg, 64)
	if _, err := raw.ChanSubscribe(events.DefaultPrefix+".>", captured); err != nil {
		t.Fatal(err)
	}
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}
	rv := e.revoker(t, n.Connect(t), revoker.WithSigner("k1", priv))
	s := e.subscriber(t, n.Connect(t), WithTrustedKeys(map[string]ed25519.PublicKey{"k1": pub}), WithGapWait(20*time.Millisecond))
	start(t, s)

	if _, err := rv.Revoke(ctx, tokenRev("legit-1")); err != nil {
		t.Fatal(err)
	}
	waitRevoked(t, s, []string{"legit-1"}, 5*time.Second)
	first := <-captured

	now := time.Now()
	allRev := func(seq uint64) events.Revocation {
		return events.Revocation{Seq: seq, Kind: events.KindAll, RevokedAt: now, NotBefore: now.Add(time.Hour), DropAfter: now.Add(2 * time.Hour)}
	}
	untrusted := allRev(2)
	untrusted.Kid = "k1"
	untrusted.Sig = ed25519.Sign(evil, untrusted.SigningBytes(nil))
	unknownKid := allRev(2)
	unknownKid.Kid = "k9"
	unknownKid.Sig = ed25519.Sign(evil, unknownKid.SigningBytes(nil))
	unsigned := allRev(2)
	forgedHB := events.Heartbeat{Head: 1 << 40, Time: now}
	oldHB := events.Heartbeat{Head: 1, Time: now.Add(-time.Hour), Kid: "k1"}
	oldHB.Sig = ed25519.Sign(priv, oldHB.SigningBytes(nil))

	before := s.Stats()
	pubNC := n.Connect(t)
	for _, r := range []events.Revocation{untrusted, unknownKid, unsigned} {
		if err := pubNC.Publish(events.RevocationSubject(events.DefaultPrefix), r.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []events.Heartbeat{forgedHB, oldHB} {
		if err := pubNC.Publish(events.HeartbeatSubject(events.DefaultPrefix), h.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := pubNC.Publish(first.Subject, first.Data); err != nil { // replay of a genuine, old event
		t.Fatal(err)
	}
	testenv.WaitFor(t, 5*time.Second, func() error {
		st := s.Stats()
		if st.Unverified-before.Unverified != 5 || st.Duplicates-before.Duplicates != 1 {
			return fmt.Errorf("unverified %d, duplicates %d: want 5 and 1", st.Unverified-before.Unverified, st.Duplicates-before.Duplicates)
		}
		return nil
	})
	if err := s.Check(jtiClaims("anyone")); err != nil {
		t.Fatalf("a forged 'revoke all' took effect: %v", err)
	}
	if st := s.Stats(); st.Entries["all"] != 0 || st.Head != before.Head {
		t.Fatalf("forged events changed the state: %+v", st)
	}

	// An unsigned entry written straight into the store is skipped when catching up.
	if err := e.store.Append(ctx, []events.Revocation{{Kind: events.KindToken, ID: "sneaked-in", RevokedAt: now, DropAfter: now.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := rv.Revoke(ctx, tokenRev("legit-2")); err != nil { // its seq shows the gap
		t.Fatal(err)
	}
	waitRevoked(t, s, []string{"legit-2"}, 5*time.Second)
	testenv.WaitFor(t, 5*time.Second, func() error {
		if st := s.Stats(); st.Applied != 3 {
			return fmt.Errorf("applied up to %d, want 3", st.Applied)
		}
		return nil
	})
	if revokedToken(s, "sneaked-in") {
		t.Fatal("an unsigned store entry was applied")
	}
	if got := s.Stats().Unverified - before.Unverified; got != 6 {
		t.Fatalf("unverified %d, want 6 (the store entry counted too)", got)
	}
	if _, err := New(nil, e.store, WithTrustedKeys(nil)); !errors.Is(err, ErrOption) {
		t.Fatal("empty trusted keys accepted")
	}
}
