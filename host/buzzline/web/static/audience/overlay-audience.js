// The overlay's audience panel: the join code and QR while phones join, the live question, then
// the answers' spread and the leaderboard's top as soon as the show publishes them. It listens on
// the audience cluster like a phone does (same vendored client, any node, failover).

import { connect, Events } from "./vendor/nats.ws-1.30.3/nats.js";
import { shares } from "./audience-logic.js";

const $ = (id) => document.getElementById(id);
const dec = new TextDecoder();
const TOP = 5;
const state = { info: null, question: null, results: null, receivedAt: null };
window.buzzlineAudienceOverlay = state; // read by the tests and the benchmark

function render() {
  const { info, question, results } = state;
  $("audience").hidden = !info;
  if (!info) return;
  $("aud-code").textContent = info.code;
  $("aud-url").textContent = info.join_url;
  const q = question && (!results || results.q !== question.q) ? question : null;
  $("aud-question").textContent = q ? q.text : results && question ? question.text : "";
  const bars = $("aud-bars");
  bars.replaceChildren();
  if (results && question && results.q === question.q) {
    const pct = shares(results.counts);
    results.counts.forEach((n, i) => {
      const li = document.createElement("li");
      if (results.correct === i) li.className = "right";
      const label = document.createElement("span");
      label.textContent = question.choices[i];
      const count = document.createElement("span");
      count.textContent = `${pct[i]}%`;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${pct[i]}%`;
      li.append(label, count, bar);
      bars.append(li);
    });
  }
  const board = $("aud-board");
  board.replaceChildren();
  for (const row of ((results && results.board) || []).slice(0, TOP)) {
    const li = document.createElement("li");
    const nick = document.createElement("span");
    nick.textContent = row.nick;
    const pts = document.createElement("span");
    pts.textContent = String(row.points);
    li.append(nick, pts);
    board.append(li);
  }
}

async function main() {
  let info;
  try {
    info = await (await fetch("/audience/info.json", { cache: "no-store" })).json();
  } catch {
    info = { audience: false };
  }
  if (!info.audience) return void setTimeout(main, 5000); // no audience in this show (yet)
  state.info = info;
  state.question = info.question;
  state.results = info.results;
  $("aud-qr").src = `/audience/qr.svg?code=${encodeURIComponent(info.code)}`;
  $("aud-qr").alt = `QR code for ${info.join_url}`;
  render();
  const cfg = await (await fetch(`/audience/config.json?code=${encodeURIComponent(info.code)}`)).json();
  const nc = await connect({
    servers: cfg.servers,
    user: cfg.user,
    pass: cfg.password,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    waitOnFirstConnect: true,
  });
  nc.subscribe(`aud.${info.code}.pub.>`, {
    callback: (err, msg) => {
      if (err) return;
      const what = msg.subject.slice(msg.subject.lastIndexOf(".") + 1);
      const body = JSON.parse(dec.decode(msg.data));
      if (what === "q") state.question = body;
      else if (what === "results") {
        state.results = body;
        state.receivedAt = performance.now();
        if (body.question && (!state.question || state.question.q !== body.q)) state.question = body.question;
      } else return;
      render();
    },
  });
  catchUp(nc);
}

// What was published while the connection moved to another node is gone (core subjects keep
// nothing): after each reconnect, the host's info.json gives the question and results as they stand.
async function catchUp(nc) {
  for await (const s of nc.status()) {
    if (s.type !== Events.Reconnect) continue;
    try {
      const info = await (await fetch("/audience/info.json", { cache: "no-store" })).json();
      state.question = info.question || state.question;
      state.results = info.results || state.results;
      render();
    } catch {
      // the next reconnect or message brings the present
    }
  }
}

main();
