package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRequestIDsInJSONLogs: a request's log lines are JSON objects carrying its request id, which
// is answered in X-Request-Id; a safe caller-supplied id is kept, anything else replaced.
func TestRequestIDsInJSONLogs(t *testing.T) {
	var buf bytes.Buffer
	logger, err := newLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	h := withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.InfoContext(r.Context(), "handled", "path", r.URL.Path)
	}))
	for _, c := range []struct {
		name, in string
		keep     bool
	}{
		{"none", "", false},
		{"safe", "abc-123_X.y", true},
		{"64 bytes", strings.Repeat("a", 64), true},
		{"65 bytes", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"quote", `a"b`, false},
		{"newline", "a\nb", false},
		{"non-ascii", "é", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			buf.Reset()
			req := httptest.NewRequest("GET", "/x", nil)
			if c.in != "" {
				req.Header[requestIDHeader] = []string{c.in}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			id := w.Header().Get(requestIDHeader)
			if c.keep && id != c.in || !c.keep && (id == c.in || len(id) != 16) {
				t.Fatalf("answered id %q for %q", id, c.in)
			}
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log %q is not one JSON object: %v", buf.String(), err)
			}
			if line["request_id"] != id || line["msg"] != "handled" {
				t.Fatalf("log line %v lacks request_id %q", line, id)
			}
			if !c.keep && c.in != "" && strings.Contains(buf.String(), c.in) {
				t.Fatalf("a rejected id reached the log: %q", buf.String())
			}
		})
	}
	if _, err := newLogger(&buf, "info", "xml"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("bad format: %v", err)
	}
}

func FuzzRequestID(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", strings.Repeat("x", 70), "\x00", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		h := withRequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		req := httptest.NewRequest("GET", "/", nil)
		req.Header[requestIDHeader] = []string{in}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		id := w.Header().Get(requestIDHeader)
		if !validRequestID(id) {
			t.Fatalf("answered an unsafe id %q", id)
		}
		if validRequestID(in) != (id == in) {
			t.Fatalf("in %q valid=%v, answered %q", in, validRequestID(in), id)
		}
	})
}
