package issuer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readBody decodes the JSON body into dst (one value, nothing after it). An empty body is allowed
// when allowEmpty, and reported. Bodies over MaxBodySize are ErrTooLarge, anything malformed
// ErrBadRequest.
func readBody(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) (empty bool, err error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return false, ErrTooLarge
		}
		return false, fmt.Errorf("%w: reading the body: %w", ErrBadRequest, err)
	}
	return decodeBody(data, dst, allowEmpty)
}

// decodeBody is readBody's decoder, separate for the fuzz targets.
func decodeBody(data []byte, dst any, allowEmpty bool) (empty bool, err error) {
	if len(bytes.TrimSpace(data)) == 0 {
		if allowEmpty {
			return true, nil
		}
		return false, fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(dst); err != nil {
		return false, fmt.Errorf("%w: %s", ErrBadRequest, jsonErrorKind(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, fmt.Errorf("%w: data after the JSON value", ErrBadRequest)
	}
	return false, nil
}

// jsonErrorKind describes a JSON decoding error without quoting the input.
func jsonErrorKind(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "wrong type for field " + te.Field
	}
	return "malformed JSON"
}

// bearer returns the token of an "Authorization: Bearer" header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// setCookies sets the access and refresh cookies.
func (is *Issuer) setCookies(w http.ResponseWriter, access, refresh string, refreshUntil, now time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: is.atCookie, Value: access, Path: "/", MaxAge: int(is.cfg.AccessTTL / time.Second),
		HttpOnly: true, Secure: !is.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode,
	})
	maxAge := int(refreshUntil.Sub(now) / time.Second)
	if maxAge < 1 {
		maxAge = 1
	}
	http.SetCookie(w, &http.Cookie{
		Name: is.rtCookie, Value: refresh, Path: is.cfg.RefreshCookiePath, MaxAge: maxAge,
		HttpOnly: true, Secure: !is.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode,
	})
}

// clearCookies expires both cookies.
func (is *Issuer) clearCookies(w http.ResponseWriter) {
	for _, c := range []struct{ name, path string }{{is.atCookie, "/"}, {is.rtCookie, is.cfg.RefreshCookiePath}} {
		http.SetCookie(w, &http.Cookie{
			Name: c.name, Value: "", Path: c.path, MaxAge: -1,
			HttpOnly: true, Secure: !is.cfg.InsecureCookies, SameSite: http.SameSiteLaxMode,
		})
	}
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}
