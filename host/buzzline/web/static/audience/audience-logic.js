// The phone page's logic with no I/O: the show-clock estimate, session ids, the answer's
// payload, the countdown. Times are passed in (local µs from performance.now()), so
// tests/test_audience_page.py runs every function in Chromium with chosen values.

// ---- the show clock: NTP-style, the best round trips win ----

const KEEP = 16; // samples remembered
const DRIFT_PPM = 100; // a phone's clock may run this far off the show's between syncs

export class ClockEstimate {
  constructor() {
    this.samples = []; // {rtt, offset, at}: all µs
  }

  // One exchange: t0 sent and t3 received on the phone's clock, t the show clock's reading.
  add(t0, t, t3) {
    const rtt = t3 - t0;
    if (!(rtt >= 0)) return;
    this.samples.push({ rtt, offset: t - (t0 + t3) / 2, at: t3 });
    if (this.samples.length > KEEP) this.samples.shift();
  }

  best() {
    let b = null;
    for (const s of this.samples) if (b === null || s.rtt < b.rtt) b = s;
    return b;
  }

  get ready() {
    return this.samples.length > 0;
  }

  // The offset (show - local, µs) and its bound: half the best round trip, widened by drift.
  estimate(nowLocal) {
    const b = this.best();
    if (b === null) return null;
    const drift = (Math.abs(nowLocal - b.at) * DRIFT_PPM) / 1e6;
    return { offset: Math.round(b.offset), bound: Math.ceil(b.rtt / 2 + drift) + 1 };
  }

  showNow(nowLocal) {
    const e = this.estimate(nowLocal);
    return e === null ? null : nowLocal + e.offset;
  }
}

// ---- sessions ----

// SHA-256 of a string, as hex: crypto.subtle exists only on https or localhost pages, and a
// phone on the studio's Wi-Fi reaches the host by a plain http address.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export function sha256hex(text) {
  const bytes = new TextEncoder().encode(text);
  const bits = bytes.length * 8;
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bits / 2 ** 32));
  view.setUint32(padded.length - 4, bits >>> 0);
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) >>> 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) >>> 0;
    }
    const add = [a, b, c, d, e, f, g, hh];
    for (let i = 0; i < 8; i++) h[i] = (h[i] + add[i]) >>> 0;
  }
  return Array.from(h, (x) => x.toString(16).padStart(8, "0")).join("");
}

export const SID_LEN = 20;

export function newSecret(random = (n) => crypto.getRandomValues(new Uint8Array(n))) {
  return Array.from(random(16), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function sidOf(secret) {
  return sha256hex(secret).slice(0, SID_LEN);
}

// ---- codes, nicknames, answers ----

export const CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";

// What a person typed as the join code, tidied (upper case, no spaces or dashes), or null.
export function cleanCode(raw) {
  const code = String(raw || "").toUpperCase().replace(/[\s-]/g, "");
  for (const ch of code) if (!CODE_ALPHABET.includes(ch)) return null;
  return code.length >= 4 && code.length <= 12 ? code : null;
}

export function cleanNick(raw) {
  // eslint-disable-next-line no-control-regex
  const text = String(raw || "").normalize("NFKC").replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/g, "");
  const nick = text.split(/\s+/).filter(Boolean).join(" ");
  return nick.length >= 1 && nick.length <= 20 ? nick : null;
}

// The answer as the show reads it: the tap on the phone's clock, the offset, the bound.
export function answerBody(session, question, choice, tapLocalUs, clock) {
  const est = clock.estimate(tapLocalUs);
  if (est === null) return null;
  return {
    q: question.q,
    c: choice,
    s: session.secret,
    n: session.nick,
    tok: session.tok,
    t: Math.round(tapLocalUs),
    o: est.offset,
    b: est.bound,
  };
}

// Seconds left to answer, from the show clock's estimate (null: no clock yet).
export function secondsLeft(question, showNowUs) {
  if (!question || question.closed || showNowUs === null) return 0;
  return Math.max(0, Math.ceil((question.close_us - showNowUs) / 1e6));
}

// Each choice's share of the answers, in whole percent, for the results' bars.
export function shares(counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((n) => (total ? Math.round((100 * n) / total) : 0));
}
