package subscriber

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Refresh-cookie names, as the issuer sets them (see AccessCookie).
const (
	RefreshCookie         = "__Secure-revocast_rt"
	InsecureRefreshCookie = "revocast_rt"
)

// WithSilentRefresh makes the middleware refresh browsers' sessions silently: when the access
// cookie holds an expired token and the request carries the refresh cookie, it calls the issuer's
// POST /v1/refresh at issuerURL, sets the new cookies on the response, and serves the request with
// the new token. A refresh the issuer refuses (a revoked or stolen session) is a 401 as before, so
// a revoked session is never revived. Browsers send the refresh cookie only to the site and path it
// was set for: serve the service on the issuer's site and set the issuer's RefreshCookiePath to "/".
// Bearer tokens are never refreshed. Defaults to off.
func WithSilentRefresh(issuerURL string) AuthOption {
	return func(a *Authenticator) {
		a.refreshURL = strings.TrimRight(issuerURL, "/") + "/v1/refresh"
		a.refreshClient = &http.Client{Timeout: 5 * time.Second}
	}
}

// refreshed is the issuer's answer to /v1/refresh.
type refreshed struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// silentRefresh tries to replace an expired access cookie. It returns the new claims, having set
// the new cookies on w, or an error.
func (a *Authenticator) silentRefresh(w http.ResponseWriter, r *http.Request) (*Claims, error) {
	secure := true
	rt, err := r.Cookie(RefreshCookie)
	if err != nil {
		secure = false
		if rt, err = r.Cookie(InsecureRefreshCookie); err != nil {
			return nil, errors.New("no refresh cookie")
		}
	}
	body, _ := json.Marshal(map[string]string{"refresh_token": rt.Value})
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.refreshURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.refreshClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("refresh: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("refresh: issuer answered %s", resp.Status)
	}
	var out refreshed
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&out); err != nil || out.AccessToken == "" || out.RefreshToken == "" {
		return nil, errors.New("refresh: malformed answer")
	}
	c, err := a.Authenticate(r.Context(), out.AccessToken)
	if err != nil {
		return nil, err
	}
	// The issuer's own Set-Cookie headers go to the browser unchanged: they carry the cookies'
	// paths and lifetimes (a request's cookies do not), so the rotated refresh cookie replaces the
	// old one instead of shadowing it under another path.
	cookies := resp.Header.Values("Set-Cookie")
	if len(cookies) == 0 {
		atName, rtName := AccessCookie, RefreshCookie
		if !secure {
			atName, rtName = InsecureAccessCookie, InsecureRefreshCookie
		}
		http.SetCookie(w, &http.Cookie{Name: atName, Value: out.AccessToken, Path: "/", MaxAge: out.ExpiresIn,
			HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
		http.SetCookie(w, &http.Cookie{Name: rtName, Value: out.RefreshToken, Path: "/v1/", HttpOnly: true,
			Secure: secure, SameSite: http.SameSiteLaxMode})
	}
	for _, sc := range cookies {
		w.Header().Add("Set-Cookie", sc)
	}
	return c, nil
}

// hasRefreshCookie reports whether r carries a refresh cookie.
func (a *Authenticator) hasRefreshCookie(r *http.Request) bool {
	for _, name := range []string{RefreshCookie, InsecureRefreshCookie} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return true
		}
	}
	return false
}
