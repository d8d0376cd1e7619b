package subscriber

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// StatusReply is what every running subscriber answers to a request on events.StatusSubject: who
// it is and how far it has applied the revocation log. `revocast status` gathers the replies of the
// whole fleet (a NATS request with many responders) and shows which instances are behind.
type StatusReply struct {
	// Service is the name given with WithService; Instance tells instances of it apart
	// (host:pid:random).
	Service  string `json:"service"`
	Instance string `json:"instance"`
	// Applied is the sequence up to which every revocation is applied; Head the highest seen.
	Applied uint64 `json:"applied"`
	Head    uint64 `json:"head"`
	// Fresh reports whether the subscriber was proven up to date within its freshness bound;
	// FreshnessAgeMillis is how long ago that was.
	Fresh              bool  `json:"fresh"`
	FreshnessAgeMillis int64 `json:"freshness_age_ms"`
	// Entries are the live cache entries by kind; Resyncs the catch-ups from the store by reason.
	Entries map[string]int64  `json:"entries"`
	Resyncs map[string]uint64 `json:"resyncs"`
	// LagP99Millis is an upper estimate of the 99th percentile propagation lag (revoked_at to
	// applied) since start, in milliseconds; 0 before the first revocation.
	LagP99Millis float64 `json:"lag_p99_ms"`
	// UptimeSeconds counts from New; Time is the subscriber's clock when it answered.
	UptimeSeconds int64     `json:"uptime_s"`
	Time          time.Time `json:"time"`
}

// Status returns the reply the subscriber gives to a status request.
func (s *Subscriber) Status() StatusReply {
	st := s.Stats()
	now := s.o.clock()
	r := StatusReply{
		Service: s.o.service, Instance: s.instance,
		Applied: st.Applied, Head: st.Head, Fresh: st.Fresh,
		Entries: st.Entries, Resyncs: st.Resyncs,
		UptimeSeconds: int64(time.Since(s.born).Seconds()),
		Time:          now,
	}
	if !st.LastFresh.IsZero() {
		r.FreshnessAgeMillis = now.Sub(st.LastFresh).Milliseconds()
	}
	if st.Propagation.Count > 0 {
		r.LagP99Millis = float64(st.Propagation.Quantile(0.99)) / float64(time.Millisecond)
	}
	return r
}

// answerStatus replies to a status request on the NATS delivery goroutine. A request without a
// reply subject is ignored; the request payload is not read.
func (s *Subscriber) answerStatus(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	b, err := json.Marshal(s.Status())
	if err == nil {
		err = m.Respond(b)
	}
	if err != nil {
		s.statusErrs.Add(1)
		s.o.errorHandler(fmt.Errorf("subscriber: status reply: %w", err))
	}
}

// newInstanceID returns host:pid:random, unique per Subscriber even within one process.
func newInstanceID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
}
