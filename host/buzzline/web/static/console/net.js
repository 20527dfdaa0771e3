// Talking to the host: commands and adapter changes carry the session's CSRF token; the live
// stream (server-sent events) resyncs from /api/state whenever it reconnects.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

export async function send(method, url, body) {
  let r;
  try {
    r = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return { ok: false, status: 0, reason: "the host does not answer" };
  }
  const data = await r.json().catch(() => ({}));
  if (r.status === 401) location.assign("/console");
  return { ok: r.ok, status: r.status, data, reason: data.refused || data.error || `HTTP ${r.status}` };
}

export function live(onState, onLink) {
  let es = null;
  let opened = false;
  let retry = null;

  async function resync() {
    try {
      const r = await fetch("/api/state", { credentials: "same-origin" });
      if (r.ok) onState(await r.json(), []);
    } catch (e) { /* the stream's next state will do */ }
  }

  function open() {
    es = new EventSource("/api/live");
    es.addEventListener("open", () => {
      onLink(true);
      if (opened) resync();  // a reconnect: the stream may have missed notices
      opened = true;
    });
    es.addEventListener("state", (m) => {
      const msg = JSON.parse(m.data);
      onState(msg.state, msg.events || []);
    });
    es.addEventListener("logout", () => location.assign("/console"));
    es.addEventListener("error", async () => {
      onLink(false);
      if (es.readyState !== EventSource.CLOSED) return;  // the browser retries by itself
      const s = await fetch("/console/session", { credentials: "same-origin" }).catch(() => null);
      if (s && s.status === 401) return location.assign("/console");
      clearTimeout(retry);
      retry = setTimeout(open, 1000);
    });
  }
  open();
  return { resync };
}

// A panel that is not part of the state document polls its own JSON: onChange(data) runs when it
// differs from what was drawn last, unless hold() says the panel is in use (a focused button).
// The returned function polls at once (after an action).
export function poller(url, everyMs, onChange, hold = () => false) {
  let timer = null;
  let drawnKey = "";
  async function poll() {
    clearTimeout(timer);
    try {
      const r = await fetch(url, { credentials: "same-origin" });
      if (r.ok) {
        const data = await r.json();
        const key = JSON.stringify(data);
        if (key !== drawnKey && !hold()) {
          drawnKey = key;
          onChange(data);
        }
      }
    } catch (e) { /* the next poll */ }
    timer = setTimeout(poll, everyMs);
  }
  poll();
  return poll;
}
