// revocast console. The page never holds a token: it logs in with cookie_only and every call
// rides on the issuer's HttpOnly cookies. Calls go one at a time (a refresh token rotates: two
// concurrent refreshes from one page would race each other).
"use strict";

const $ = (id) => document.getElementById(id);
let queue = Promise.resolve();
let me = null;          // claims the demo service last accepted
let events = null;      // EventSource
let timers = [];

// call runs one request after the previous one finished. On an expired access token it refreshes
// (cookies only) and retries once. It resolves to {status, body, headers}.
function call(method, path, body, headers) {
  const run = async () => {
    const once = async () => {
      const res = await fetch(path, {
        method, credentials: "same-origin",
        headers: Object.assign(body ? { "Content-Type": "application/json" } : {}, headers || {}),
        body: body ? JSON.stringify(body) : undefined,
      });
      let data = null;
      const text = await res.text();
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
      return { status: res.status, body: data, headers: res.headers };
    };
    let r = await once();
    // The access cookie lives as long as its token: once it expired the browser drops it, and the
    // refresh cookie gets a new pair.
    if (r.status === 401 && path !== "/v1/refresh" && path !== "/v1/login" && r.body && r.body.error === "invalid_token" &&
        !/revoked/.test(message(r))) {
      const rr = await fetch("/v1/refresh", { method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" }, body: JSON.stringify({ cookie_only: true }) });
      if (rr.ok) r = await once();
    }
    return r;
  };
  const p = queue.then(run, run);
  queue = p.catch(() => {});
  return p;
}

function message(r) { return (r.body && (r.body.message || r.body.error)) || ""; }

// words turns an answer into a sentence a person understands.
function words(r) {
  const m = message(r);
  if (r.status === 401 && /revoked/.test(m)) return "Your session was ended elsewhere (" + m + ").";
  if (r.status === 401 && /expired|session ended/.test(m)) return "Your session has expired. Please log in again.";
  if (r.status === 401 && r.body && r.body.error === "invalid_credentials") return "Wrong username or password.";
  if (r.status === 401) return "You are not logged in.";
  if (r.status === 429) {
    const s = r.headers.get("Retry-After");
    return "Too many attempts. Try again in " + (s || "a few") + " seconds.";
  }
  if (r.status === 403) return "That request was refused (" + m + ").";
  if (r.status === 503 || r.status === 502) return "The service is unavailable right now; try again in a moment.";
  return "Something went wrong (" + r.status + (m ? ": " + m : "") + ").";
}

function show(view) {
  $("login-view").hidden = view !== "login";
  $("app-view").hidden = view !== "app";
  for (const id of ["who", "logout", "logout-all"]) $(id).hidden = view !== "app";
}

function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

function stop() {
  timers.forEach(clearInterval);
  timers = [];
  if (events) { events.close(); events = null; }
}

// loggedOut leaves the app view with a reason.
function loggedOut(reason) {
  stop();
  me = null;
  show("login");
  banner(reason);
}

async function whoami() {
  const r = await call("GET", "/v1/console/whoami");
  if (r.status === 200) {
    me = r.body;
    $("me").textContent = JSON.stringify(r.body, null, 2);
    $("me-status").textContent = "Accepted by the demo service at " + new Date().toLocaleTimeString();
    $("me-status").className = "status ok";
    $("who").textContent = r.body.name || r.body.sub;
    return true;
  }
  if (r.status === 401) {
    if (me) loggedOut(words(r));
    return false;
  }
  $("me-status").textContent = words(r);
  $("me-status").className = "status bad";
  return me !== null;
}

function ago(t) { return t ? new Date(t).toLocaleString() : ""; }

function device(ua) {
  if (!ua) return "unknown device";
  const m = ua.match(/(Firefox|Edg|Chrome|Chromium|Safari|curl|Go-http-client)[\/ ]?([\d.]*)/);
  const os = ua.match(/\(([^;)]+)/);
  return (m ? m[1] + (m[2] ? " " + m[2].split(".")[0] : "") : ua.slice(0, 40)) + (os ? " on " + os[1] : "");
}

async function sessions() {
  const r = await call("GET", "/v1/sessions");
  if (r.status === 401) { if (me) loggedOut(words(r)); return; }
  if (r.status !== 200) return;
  const tbody = $("sessions").querySelector("tbody");
  tbody.replaceChildren();
  for (const s of r.body.sessions) {
    const tr = document.createElement("tr");
    tr.dataset.sid = s.id;
    const cells = [device(s.user_agent), s.ip, ago(s.created), ago(s.last_used)];
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    const td = document.createElement("td");
    if (s.current) { const b = document.createElement("span"); b.className = "this"; b.textContent = "this device "; td.append(b); }
    const btn = document.createElement("button");
    btn.className = "secondary revoke";
    btn.textContent = "Revoke";
    btn.onclick = () => revoke(s.id, s.current);
    td.append(btn);
    tr.append(td);
    tbody.append(tr);
  }
}

// note adds a line to the live feed.
function note(html) {
  const li = document.createElement("li");
  li.innerHTML = html;
  $("feed").prepend(li);
}

function esc(s) { return String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";"); }

// timed runs a revoking call with the probe header and reports the time from the click to the
// demo service's first rejection of this page's old token (measured by the issuer).
async function timed(method, path, what) {
  const t0 = performance.now();
  const r = await call(method, path, null, { "X-Revocast-Probe": "1" });
  const total = performance.now() - t0;
  if (r.status !== 204) { banner(words(r)); return r; }
  const ms = r.headers.get("X-Revocast-Rejected-After-Ms");
  if (ms) {
    note(esc(what) + ': the demo service rejected this page\'s token <span class="ms">' + esc(ms) +
      " ms</span> after the click (answer after " + total.toFixed(1) + " ms)");
  }
  return r;
}

async function revoke(sid, current) {
  const r = await timed("DELETE", "/v1/sessions/" + encodeURIComponent(sid), current ? "This session revoked" : "Session revoked");
  if (r.status !== 204) return;
  if (current) loggedOut("You revoked this session." + rejectedAfter(r));
  else sessions();
}

function feed() {
  events = new EventSource("/v1/events");
  events.addEventListener("hello", (e) => {
    const h = JSON.parse(e.data);
    $("feed-scope").textContent = h.admin ? "— every revocation (admin)" : "— your sessions and account";
  });
  events.addEventListener("revocation", (e) => {
    const ev = JSON.parse(e.data);
    const lag = Date.now() - Date.parse(ev.revoked_at);
    const what = ev.kind === "session" ? "session " + ev.id.slice(0, 8) + "…" :
      ev.kind === "subject" ? "every token of " + ev.id : ev.kind === "all" ? "every token" : "token " + ev.id.slice(0, 8) + "…";
    note("#" + ev.seq + " " + (ev.current ? '<span class="mine">this session</span>' : esc(what)) + " revoked (" +
      esc(ev.reason) + ") — reached this page <span class=\"ms\">" + lag + " ms</span> after it was revoked");
    if (ev.own) { whoami(); sessions(); }
  });
}

async function enter() {
  banner("");
  show("app");
  $("feed").replaceChildren();
  await sessions();
  feed();
  timers.push(setInterval(whoami, 1000), setInterval(sessions, 5000));
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").hidden = true;
  $("login").disabled = true;
  const r = await call("POST", "/v1/login", { username: $("username").value, password: $("password").value, cookie_only: true });
  $("login").disabled = false;
  if (r.status !== 200) {
    $("login-error").textContent = words(r);
    $("login-error").hidden = false;
    return;
  }
  $("password").value = "";
  if (await whoami()) enter();
  else { $("login-error").textContent = "Logged in, but the demo service does not accept the session."; $("login-error").hidden = false; }
});

function rejectedAfter(r) {
  const ms = r.headers.get("X-Revocast-Rejected-After-Ms");
  return ms ? " The demo service rejected this page's token " + ms + " ms after the click." : "";
}

$("logout").onclick = async () => {
  const r = await timed("POST", "/v1/logout", "Logged out");
  if (r.status === 204) loggedOut("You logged out." + rejectedAfter(r));
};

$("logout-all").onclick = async () => {
  const r = await timed("POST", "/v1/logout-all", "Logged out everywhere");
  if (r.status === 204) loggedOut("You logged out everywhere: every session of yours has ended." + rejectedAfter(r));
};

(async () => {
  if (await whoami()) enter();
  else show("login");
})();
