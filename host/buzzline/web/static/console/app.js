// The operator console: one state document from the host (/api/state, then the live stream),
// drawn into six panels. Commands go to /api/command with the session's CSRF token.
import { h, fill } from "./dom.js";
import { send, live } from "./net.js";
import { installKeys, toggleHelp } from "./keys.js";
import * as panels from "./panels.js";
import { startFleet } from "./fleet.js";
import { startAudience } from "./audience.js";

const ui = {
  state: null,
  receivedAt: 0,
  selected: null,   // podium id
  feed: [],         // recent notice events, newest first
  openDrawers: new Set(),
};

ui.command = async (name, args = {}) => {
  const r = await send("POST", "/api/command", { name, args });
  if (!r.ok) toast(`${name}: ${r.reason}`, "bad");
  return r.ok;
};
ui.send = send;
ui.toast = toast;
ui.render = render;
ui.podiumOrder = () => panels.podiumOrder(ui.state);
ui.select = (n) => {
  const pid = ui.podiumOrder()[n - 1];
  if (pid) { ui.selected = pid; render(); } else toast(`no podium ${n}`, "bad");
};
ui.identify = () => {
  if (!ui.selected) return toast("select a podium first (1–9)", "bad");
  return ui.command("identify", { podium: ui.selected });
};

function toast(text, kind = "info") {
  const box = document.getElementById("toasts");
  const t = h("div", { class: `toast ${kind}` }, text);
  box.prepend(t);
  while (box.children.length > 4) box.lastChild.remove();
  setTimeout(() => t.remove(), kind === "bad" ? 6000 : 3000);
}

// What each panel draws from: a panel whose inputs did not change is not redrawn.
const INPUTS = {
  preflight: (s) => [s.preflight],
  show: (s) => [s.game, s.commands, s.question, s.show, ui.feed.length && ui.feed[0]],
  timeline: (s) => [s.timeline, s.game.info.podiums, s.game.phase, s.game.winner, s.game.info.locked_out],
  podiums: (s) => [s.podiums.map((p) => ({ ...p, seen_ago_ms: Math.floor((p.seen_ago_ms ?? -1) / 1000) })),
    s.game.info.podiums, ui.selected, s.health.clock_limits],
  scores: (s) => [s.game.scores, s.score_history.length, s.score_history.at(-1), s.show.players],
  adapters: (s) => [s.adapters],
  health: (s) => [s.health, s.rejects, s.podiums.map((p) => p.clock)],
};
const drawn = {};

function render() {
  if (!ui.state) return;
  document.getElementById("title").textContent = ui.state.show.title;
  for (const [id, inputs] of Object.entries(INPUTS)) {
    const el = document.getElementById(id);
    const active = document.activeElement;
    // never redraw under the operator's typing
    if (el.contains(active) && ["INPUT", "SELECT", "TEXTAREA"].includes(active.tagName)) continue;
    const key = JSON.stringify(inputs(ui.state));
    if (drawn[id] === key) continue;
    drawn[id] = key;
    panels[id](el, ui);
  }
}

function onState(state, events) {
  ui.state = state;
  ui.receivedAt = performance.now();
  for (const e of events) {
    ui.feed.unshift({ ...e, at: new Date() });
  }
  ui.feed.length = Math.min(ui.feed.length, 12);
  render();
}

function onLink(up) {
  const el = document.getElementById("link");
  el.textContent = up ? "live" : "reconnecting…";
  el.className = `pill ${up ? "good" : "bad"}`;
}

setInterval(() => panels.tickTimers(ui), 100);
document.getElementById("help-btn").addEventListener("click", (e) => { e.currentTarget.blur(); toggleHelp(); });
document.getElementById("logout").addEventListener("click", async () => {
  await send("POST", "/console/logout");
  location.assign("/console");
});
// a clicked button must not keep focus: Space or Enter would click it again
document.addEventListener("click", (e) => { if (e.target instanceof HTMLButtonElement) e.target.blur(); });
installKeys(ui);
live(onState, onLink);
startFleet(document.getElementById("fleet"), ui);
startAudience(document.getElementById("audience"));
