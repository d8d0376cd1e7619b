// Package metrics exposes the state and counters of the revocast components as Prometheus
// metrics. Each function returns a prometheus.Collector that reads the component's Stats at scrape
// time, so nothing is recorded twice and the components themselves do not depend on Prometheus:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.Subscriber(sub), metrics.Authenticator(auth), metrics.Verifier(v))
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every metric is named revocast_<component>_<name>; docs/OPERATIONS.md lists them with the alerts
// worth setting. A process running two subscribers registers them under distinguishing labels
// (prometheus.WrapRegistererWith).
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/revocast/revocast/issuer"
	"github.com/revocast/revocast/revoker"
	"github.com/revocast/revocast/stats"
	"github.com/revocast/revocast/subscriber"
)

// collector is a prometheus.Collector over a fixed set of descriptions and a function emitting
// their values from a Stats snapshot.
type collector struct {
	descs   []*prometheus.Desc
	collect func(e emitter)
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) { c.collect(emitter{ch}) }

// builder creates the descriptions of one component.
type builder struct {
	subsystem string
	descs     []*prometheus.Desc
}

func (b *builder) desc(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(prometheus.BuildFQName("revocast", b.subsystem, name), help, labels, nil)
	b.descs = append(b.descs, d)
	return d
}

func (b *builder) collector(f func(e emitter)) prometheus.Collector {
	return &collector{descs: b.descs, collect: f}
}

type emitter struct{ ch chan<- prometheus.Metric }

func (e emitter) counter(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

func (e emitter) gauge(d *prometheus.Desc, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// histogram emits a snapshot as a Prometheus histogram in seconds.
func (e emitter) histogram(d *prometheus.Desc, s stats.HistogramSnapshot) {
	buckets := make(map[float64]uint64, len(s.Bounds))
	var cum uint64
	for i, b := range s.Bounds {
		cum += s.Counts[i]
		buckets[b.Seconds()] = cum
	}
	e.ch <- prometheus.MustNewConstHistogram(d, s.Count, s.Sum.Seconds(), buckets)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Subscriber returns a collector of sub's state: live entries, sequences, freshness, resyncs,
// dropped and invalid events, and the end-to-end propagation lag histogram.
func Subscriber(sub *subscriber.Subscriber) prometheus.Collector {
	b := builder{subsystem: "subscriber"}
	var (
		info       = b.desc("info", "Always 1; names the subscriber's service and instance.", "service", "instance")
		entries    = b.desc("entries", "Live revocations in the in-process cache, by kind.", "kind")
		applied    = b.desc("applied_sequence", "Sequence up to which every revocation is applied.")
		head       = b.desc("head_sequence", "Highest sequence seen (events, heartbeats, the store).")
		behind     = b.desc("behind_events", "head_sequence - applied_sequence: revocations known but not yet applied.")
		fresh      = b.desc("fresh", "1 while the subscriber was proven up to date within its freshness bound.")
		age        = b.desc("freshness_age_seconds", "Seconds since the subscriber was last proven up to date.")
		resyncs    = b.desc("resyncs_total", "Catch-ups from the store, by reason.", "reason")
		appliedN   = b.desc("applied_events_total", "Revocations applied after start (from NATS or a catch-up).")
		dups       = b.desc("duplicate_events_total", "Revocations received again (harmless: applying is idempotent).")
		invalid    = b.desc("invalid_events_total", "Events dropped: malformed, or unverified (bad or missing signature, replayed heartbeat).", "reason")
		dropped    = b.desc("dropped_messages_total", "Messages NATS dropped for this subscriber (slow consumer); each triggers a catch-up.")
		sweeps     = b.desc("sweeps_total", "Expiry sweeps run.")
		statusErrs = b.desc("status_errors_total", "Status requests that could not be answered.")
		lag        = b.desc("propagation_seconds", "End-to-end propagation lag: revoked_at (issuer clock) to applied (subscriber clock).")
	)
	return b.collector(func(e emitter) {
		st := sub.Stats()
		e.gauge(info, 1, st.Service, st.Instance)
		for k, n := range st.Entries {
			e.gauge(entries, float64(n), k)
		}
		e.gauge(applied, float64(st.Applied))
		e.gauge(head, float64(st.Head))
		e.gauge(behind, float64(st.Head-min(st.Head, st.Applied)))
		e.gauge(fresh, boolFloat(st.Fresh))
		if !st.LastFresh.IsZero() {
			e.gauge(age, time.Since(st.LastFresh).Seconds())
		}
		for r, n := range st.Resyncs {
			e.counter(resyncs, float64(n), r)
		}
		e.counter(appliedN, float64(st.AppliedEvents))
		e.counter(dups, float64(st.Duplicates))
		e.counter(invalid, float64(st.Invalid), "malformed")
		e.counter(invalid, float64(st.Unverified), "unverified")
		e.counter(dropped, float64(st.Dropped))
		e.counter(sweeps, float64(st.Sweeps))
		e.counter(statusErrs, float64(st.StatusErrors))
		e.histogram(lag, st.Propagation)
	})
}

// Authenticator returns a collector of a's checks and rejections by reason.
func Authenticator(a *subscriber.Authenticator) prometheus.Collector {
	b := builder{subsystem: "auth"}
	var (
		checks   = b.desc("checks_total", "Access tokens checked (verified and checked for revocation), requests without a token included.")
		rejected = b.desc("rejections_total", "Requests rejected, by reason (revoked, invalid, malformed, stale, ...).", "reason")
	)
	return b.collector(func(e emitter) {
		st := a.Stats()
		e.counter(checks, float64(st.Checked))
		for r, n := range st.Rejected {
			e.counter(rejected, float64(n), r)
		}
	})
}

// Verifier returns a collector of v's verification latency, cache hits and JWKS fetches.
func Verifier(v *subscriber.Verifier) prometheus.Collector {
	b := builder{subsystem: "verifier"}
	var (
		latency   = b.desc("duration_seconds", "Time to verify a token's signature and claims (cache hits excluded).")
		hits      = b.desc("cache_hits_total", "Tokens answered from the verified-token cache.")
		fetches   = b.desc("jwks_fetches_total", "JWKS downloads (start, periodic refresh, unknown key id).")
		fetchErrs = b.desc("jwks_fetch_errors_total", "JWKS downloads that failed (the keys already known stay in use).")
		skipped   = b.desc("jwks_skipped_keys_total", "JWKS entries skipped as unusable.")
	)
	return b.collector(func(e emitter) {
		st := v.Stats()
		e.histogram(latency, st.Latency)
		e.counter(hits, float64(st.CacheHits))
		e.counter(fetches, float64(st.JWKSFetches))
		e.counter(fetchErrs, float64(st.JWKSFetchErrors))
		e.counter(skipped, float64(st.SkippedKeys))
	})
}

// Revoker returns a collector of r's revocations by kind, store append latency and errors,
// publishes and heartbeats.
func Revoker(r *revoker.Revoker) prometheus.Collector {
	b := builder{subsystem: "revoker"}
	var (
		revs      = b.desc("revocations_total", "Revocations durably appended to the store, by kind.", "kind")
		appendDur = b.desc("append_duration_seconds", "Store append latency (one revocation, or one batch chunk).")
		appendErr = b.desc("append_errors_total", "Store appends that failed (the caller got an error; nothing was published).")
		published = b.desc("published_total", "Revocations published on NATS.")
		pubErrs   = b.desc("publish_errors_total", "Revocations whose publish failed (durable all the same: subscribers catch up from the store).")
		hbs       = b.desc("heartbeats_total", "Heartbeats published.")
		hbErrs    = b.desc("heartbeat_errors_total", "Heartbeats that failed (store head unreadable, or publish failed).")
	)
	return b.collector(func(e emitter) {
		st := r.Stats()
		for k, n := range st.ByKind {
			e.counter(revs, float64(n), k)
		}
		e.histogram(appendDur, st.AppendLatency)
		e.counter(appendErr, float64(st.AppendErrors))
		e.counter(published, float64(st.Published))
		e.counter(pubErrs, float64(st.PublishErrors))
		e.counter(hbs, float64(st.Heartbeats))
		e.counter(hbErrs, float64(st.HeartbeatErrors))
	})
}

// Issuer returns a collector of the issuer's events: logins (ok, failed, rate limited), refreshes,
// refresh-token theft detections (refresh_reuse), logouts, session and admin revocations.
func Issuer(is *issuer.Issuer) prometheus.Collector {
	b := builder{subsystem: "issuer"}
	events := b.desc("events_total", "Issuer events by name: login, login_failed, login_rate_limited, refresh, refresh_failed, refresh_reuse (stolen refresh token detected), logout, logout_all, session_deleted, session_revoked, session_revoke_failed, session_ended_user_removed, admin_revocation, admin_revocation_denied.", "event")
	return b.collector(func(e emitter) {
		for name, n := range is.Stats().Events {
			e.counter(events, float64(n), name)
		}
	})
}
