// The phone page: join by code, follow the show, answer with one tap; over nats.ws to any node
// of the audience cluster, failing over to another and catching up after each reconnect.
// No cookies, no analytics, nothing loaded from elsewhere; the session lives in this tab only.

import { connect, Events, headers } from "./vendor/nats.ws-1.30.3/nats.js";
import * as L from "./audience-logic.js";

const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const dec = new TextDecoder();
const STORE = "buzzline-audience";
const RESYNC_EVERY_MS = 10000;
const ANSWER_GIVE_UP_MS = 30000;

const state = {
  nc: null,
  session: null, // {code, secret, sid, nick, tok}
  question: null, // the public question, as the show sent it
  answers: new Map(), // question -> {choice, acked}
  results: null,
  clock: new L.ClockEstimate(),
  reconnects: 0,
  sub: null,
};
window.buzzlineAudience = state; // read by the tests (the clock's error against the show)

const nowUs = () => performance.now() * 1000;

function say(text) {
  $("status").textContent = text;
}

async function config() {
  const r = await fetch("config.json", { cache: "no-store" });
  if (!r.ok) throw new Error(`config.json: ${r.status}`);
  return r.json();
}

function shuffled(list) {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function request(what, body, timeout = 3000, opts = {}) {
  const r = await state.nc.request(what, enc.encode(JSON.stringify(body)), { timeout, ...opts });
  return JSON.parse(dec.decode(r.data));
}

const subject = (what) => `aud.${state.session.code}.${what}`;

// ---- the show clock ----

async function clockExchange() {
  const t0 = nowUs();
  const r = await request(subject("time"), {}, 2000);
  state.clock.add(t0, r.t, nowUs());
}

async function clockBurst(n = 6) {
  for (let i = 0; i < n; i++) {
    try {
      await clockExchange();
    } catch {
      return;
    }
  }
}

// ---- joining ----

async function join(event) {
  event.preventDefault();
  const code = L.cleanCode($("code").value);
  const nick = L.cleanNick($("nick").value);
  const error = $("join-error");
  error.textContent = "";
  if (code === null) return void (error.textContent = "That code does not look right: 4 to 12 letters and digits.");
  if (nick === null) return void (error.textContent = "Choose a nickname of 1 to 20 characters.");
  const secret = L.newSecret();
  const sid = L.sidOf(secret);
  $("join-btn").disabled = true;
  try {
    const r = await state.nc.request(`aud.${code}.join`, enc.encode(JSON.stringify({ sid, nick })), { timeout: 4000 });
    const reply = JSON.parse(dec.decode(r.data));
    if (!reply.ok) {
      error.textContent = reply.reason.startsWith("nick") ? "Please choose another nickname." : "The show refused to join.";
      return;
    }
    state.session = { code, secret, sid, nick: reply.nick, tok: reply.tok };
    sessionStorage.setItem(STORE, JSON.stringify(state.session));
    await enterShow(reply);
  } catch (e) {
    error.textContent = String(e.code) === "503" ? "No show with that code right now." : "Could not reach the show; try again.";
  } finally {
    $("join-btn").disabled = !state.nc;
  }
}

async function enterShow(info) {
  $("join").hidden = true;
  $("play").hidden = false;
  $("who").textContent = `Playing as ${state.session.nick}`;
  if (info && info.title) $("title").textContent = info.title;
  state.sub = state.nc.subscribe(subject("pub.>"), { callback: (err, msg) => err || news(msg) });
  await clockBurst();
  await resync();
}

// ---- what the show says ----

function news(msg) {
  const what = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
  const body = JSON.parse(dec.decode(msg.data));
  if (what === "q") showQuestion(body);
  else if (what === "close") closeQuestion(body.q);
  else if (what === "results") showResults(body);
  else if (what === "state" && body.title) $("title").textContent = body.title;
}

async function resync() {
  let s;
  try {
    s = await request(subject("sync"), { sid: state.session.sid });
  } catch {
    return;
  }
  if (s.title) $("title").textContent = s.title;
  if (typeof s.points === "number") $("points").textContent = `${s.points} points`;
  const q = s.question;
  if (q && !q.closed) showQuestion(q);
  else if (s.results) showResults(s.results);
  for (const [qid, a] of state.answers) if (a.body && !a.acked && !a.sending) sendAnswer(qid, a);
}

function showQuestion(q) {
  if (state.question && state.question.q === q.q && !state.question.closed) return;
  state.question = q;
  $("waiting").hidden = true;
  $("results").hidden = true;
  $("question").hidden = false;
  $("qtext").textContent = q.text;
  $("sent").textContent = "";
  const box = $("choices");
  box.replaceChildren();
  const mine = state.answers.get(q.q);
  q.choices.forEach((text, i) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.setAttribute("aria-pressed", mine && mine.choice === i ? "true" : "false");
    b.disabled = Boolean(mine);
    // the tap's own time stamp: when the finger landed, not when the page got round to it
    b.addEventListener("pointerdown", (e) => answer(i, e.timeStamp));
    b.addEventListener("click", (e) => {
      if (e.detail === 0) answer(i, performance.now()); // keyboard or switch access
    });
    box.append(b);
  });
  tick();
}

function closeQuestion(qid) {
  if (!state.question || state.question.q !== qid) return;
  state.question.closed = true;
  for (const b of $("choices").children) b.disabled = true;
  $("left").textContent = "0";
  $("left-sr").textContent = "Time is up";
}

function tick() {
  const q = state.question;
  if (!q || q.closed) return;
  const left = L.secondsLeft(q, state.clock.showNow(nowUs()));
  if ($("left").textContent !== String(left)) {
    $("left").textContent = String(left);
    if (left % 5 === 0 || left <= 3) $("left-sr").textContent = `${left} seconds left`;
  }
}

async function answer(choice, tapMs) {
  const q = state.question;
  if (!q || q.closed || state.answers.has(q.q)) return;
  const a = { choice, body: null, acked: false, sending: false, since: Date.now() };
  state.answers.set(q.q, a);
  for (const [i, b] of [...$("choices").children].entries()) {
    b.setAttribute("aria-pressed", i === choice ? "true" : "false");
    b.disabled = true;
  }
  $("sent").textContent = "Sending…";
  // the tap's time is kept as it was; only the offset to the show's clock may come later
  a.body = L.answerBody(state.session, q, choice, tapMs * 1000, state.clock);
  if (a.body === null) {
    await clockBurst(3);
    a.body = L.answerBody(state.session, q, choice, tapMs * 1000, state.clock);
  }
  if (a.body === null) {
    state.answers.delete(q.q);
    for (const b of $("choices").children) b.disabled = false;
    $("sent").textContent = "No clock from the show yet: tap again in a moment.";
    return;
  }
  sendAnswer(q.q, a);
}

// Until the stream holds it; a resend after a failover carries the same message id, so the
// stream keeps one copy.
async function sendAnswer(qid, a) {
  a.sending = true;
  const h = headers();
  h.set("Nats-Msg-Id", `${state.session.sid}.${qid}`);
  let backoff = 200;
  while (!a.acked && Date.now() - a.since < ANSWER_GIVE_UP_MS) {
    try {
      const ack = await request(subject(`ans.${state.session.sid}`), a.body, 2000, { headers: h });
      if (!ack.error) {
        a.acked = true;
        if (state.question && state.question.q === qid) $("sent").textContent = "Answer in ✓";
        break;
      }
    } catch {
      // no node or no stream leader right now (a node died): try again shortly
    }
    // jittered and doubling to 2 s, so a crowd's resends do not bury a newly elected leader
    await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random() / 2)));
    backoff = Math.min(backoff * 2, 2000);
  }
  a.sending = false;
}

function showResults(r) {
  state.results = r;
  closeQuestion(r.q);
  $("question").hidden = true;
  $("waiting").hidden = true;
  $("results").hidden = false;
  const q = state.question && state.question.q === r.q ? state.question : null;
  const pct = L.shares(r.counts);
  const bars = $("bars");
  bars.replaceChildren();
  r.counts.forEach((n, i) => {
    const li = document.createElement("li");
    if (r.correct === i) li.className = "right";
    const label = q ? q.choices[i] : `Choice ${i + 1}`;
    li.textContent = `${label}${r.correct === i ? " (right)" : ""}: ${n} (${pct[i]}%)`;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = `${pct[i]}%`;
    bar.setAttribute("aria-hidden", "true");
    li.append(bar);
    bars.append(li);
  });
  const mine = state.answers.get(r.q);
  const verdict = $("verdict");
  if (r.correct === null || r.correct === undefined) verdict.textContent = "";
  else if (!mine) verdict.textContent = "You did not answer this one.";
  else verdict.textContent = mine.choice === r.correct ? "Right!" : "Not this time.";
  const board = $("board");
  board.replaceChildren();
  for (const row of r.board || []) {
    const li = document.createElement("li");
    li.textContent = `${row.nick}: ${row.points}`;
    if (row.nick === state.session.nick) li.className = "me";
    board.append(li);
  }
  const me = (r.board || []).find((row) => row.nick === state.session.nick);
  if (me) $("points").textContent = `${me.points} points`;
}

// ---- the connection ----

async function watch(nc) {
  for await (const s of nc.status()) {
    if (s.type === Events.Disconnect) say("Connection lost, reconnecting…");
    else if (s.type === Events.Reconnect) {
      state.reconnects += 1;
      say("Connected");
      if (state.session) {
        // another node, another path: more samples (the show's clock is the same one, so the
        // old estimate stays good meanwhile, its bound widening with its age)
        await clockBurst();
        await resync();
      }
    }
  }
}

async function start() {
  const params = new URLSearchParams(location.search);
  $("code").value = params.get("code") || "";
  $("join-form").addEventListener("submit", join);
  let cfg;
  try {
    cfg = await config();
  } catch {
    return say("This page has no show to connect to (config.json is missing).");
  }
  state.nc = await connect({
    servers: shuffled(cfg.servers), // phones spread over the nodes
    user: cfg.user,
    pass: cfg.password,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    waitOnFirstConnect: true,
    pingInterval: 5000,
    maxPingOut: 2,
    noEcho: true,
  });
  say("Connected");
  $("join-btn").disabled = false;
  watch(state.nc);
  setInterval(tick, 200);
  setInterval(() => state.session && clockExchange().catch(() => {}), RESYNC_EVERY_MS);
  const saved = JSON.parse(sessionStorage.getItem(STORE) || "null");
  if (saved && (!params.get("code") || L.cleanCode(params.get("code")) === saved.code)) {
    state.session = saved;
    await enterShow(null);
  } else {
    $("code").focus();
  }
}

start();
