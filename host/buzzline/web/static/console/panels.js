// The six panels. Each one redraws itself from the state document; nothing here holds game state.
import { h, fill, ordinal, us } from "./dom.js";
import { openForm, adapterForm } from "./forms.js";

const KEY_OF = { read: "R", arm: "Space", judge: "Enter / Backspace", timeout: "T", next: "N", undo: "Ctrl+Z", redo: "Ctrl+Shift+Z", end: null };
const PHASE_TEXT = {
  idle: "Ready for the question", reading: "Reading: a press now is a false start", open: "Buzzers open",
  answering: "", judged: "", ended: "Show over",
};

export function podiumOrder(state) {
  if (!state) return [];
  const info = state.game.info.podiums || {};
  const ids = new Set([...state.podiums.map((p) => p.podium), ...Object.keys(info)]);
  return [...ids].sort((a, b) => (info[a]?.seat ?? 999) - (info[b]?.seat ?? 999) || a.localeCompare(b));
}

function who(state, pid) {
  const p = state.game.info.podiums?.[pid] || {};
  return { player: p.player || "", seat: p.seat ?? null, col: p.col || null, team: p.team || null };
}

// ---- the pre-show check, until acknowledged ---------------------------------------------------
export function preflight(el, ui) {
  const items = ui.state.preflight || [];
  el.hidden = items.length === 0;
  if (!items.length) return fill(el);
  const errors = items.filter((f) => f.level === "error").length;
  const ack = async () => {
    const r = await ui.send("POST", "/api/preflight/ack");
    if (!r.ok) return ui.toast(`acknowledge: ${r.reason}`, "bad");
    ui.state.preflight = r.data.preflight || [];
    ui.render();
  };
  fill(el,
    h("h2", {}, `Pre-show check: ${errors} error${errors === 1 ? "" : "s"}, ${items.length - errors} warning${items.length - errors === 1 ? "" : "s"}`),
    h("ul", { class: "findings" }, items.map((f) => h("li", { class: f.level === "error" ? "bad" : "warn" },
      h("strong", {}, `${f.level}: `), `${f.where}: ${f.what}`, f.hint ? h("span", { class: "muted" }, ` (${f.hint})`) : null))),
    h("button", { type: "button", id: "preflight-ack", onclick: ack }, "Acknowledge"));
}

// ---- show -----------------------------------------------------------------------------------
export function show(el, ui) {
  const s = ui.state, g = s.game, info = g.info;
  const cmds = new Set(s.commands);
  const button = (name, label, args) =>
    h("button", { type: "button", disabled: !cmds.has(name), onclick: () => ui.command(name, args) }, label,
      KEY_OF[name] && label !== "Wrong" ? h("kbd", {}, name === "judge" ? "Enter" : KEY_OF[name]) : null,
      label === "Wrong" ? h("kbd", {}, "Backspace") : null);
  const winner = info.winner_player ? `${info.winner_player}` : "";
  fill(el,
    h("h2", {}, "Show"),
    h("div", { class: "facts" },
      h("span", {}, `Question ${g.q}${info.questions ? ` of ${info.questions}` : ""}`),
      info.round ? h("span", {}, info.round) : null,
      h("span", {}, `value ${info.value}`),
      h("span", {}, `mode ${info.mode}`),
      h("span", {}, `ties: ${s.show.tie_rule}`)),
    s.question.text || s.question.answer ? h("div", { class: "card", id: "card" },
      s.question.text ? h("p", { class: "qtext" }, s.question.text) : null,
      s.question.answer ? h("p", { class: "answer" }, "Answer: ", h("strong", {}, s.question.answer)) : null) : null,
    h("div", { class: `phase phase-${g.phase}`, id: "phase", dataset: { phase: g.phase } },
      h("strong", {}, g.phase), " ", PHASE_TEXT[g.phase] || "",
      winner && ["answering", "judged"].includes(g.phase) ? h("span", { class: "winner" }, `· ${winner}`) : null,
      info.result && g.phase === "judged" ? h("span", {}, ` · ${info.result}`) : null),
    h("div", { class: "timers" },
      h("span", {}, "buzz ", h("b", { dataset: { timer: "buzz_ms_left" } }, "–")),
      h("span", {}, "answer ", h("b", { dataset: { timer: "answer_ms_left" } }, "–"))),
    h("div", { class: "actions" },
      button("read", "Read"), button("arm", "Arm"), button("judge", "Right", { correct: true, podium: g.winner }),
      button("judge", "Wrong", { correct: false, podium: g.winner }), button("timeout", "Time out"), button("next", "Next"),
      button("undo", "Undo"), button("redo", "Redo"), button("end", "End show")),
    h("ol", { class: "feed", "aria-label": "recent events" },
      ui.feed.filter((e) => !QUIET.has(e.k)).slice(0, 6).map((e) => h("li", {}, describe(e)))));
  tickTimers(ui);
}

const QUIET = new Set(["light", "timer_started", "timer_expired", "locked", "armed", "command", "question"]);

function describe(e) {
  const name = e.player || e.podium || "";
  switch (e.k) {
    case "winner": return `winner ${name}${e.flags?.length ? ` [${e.flags.join(", ")}]` : ""}`;
    case "tie": return `tie between ${e.podiums.join(", ")} (rule ${e.rule})`;
    case "false_start": return `false start: ${name} locked out ${e.lockout_ms} ms`;
    case "judged": return `${name} ${e.correct ? "right" : "wrong"} (${e.result})`;
    case "score": return `${e.player} ${e.delta > 0 ? "+" : ""}${e.delta} → ${e.total} (${e.reason})`;
    case "refused": return `refused ${e.name}: ${e.reason}`;
    case "podium": return `${e.podium} ${e.online ? "online" : "offline"}`;
    default: return [e.k, e.phase || e.timer || e.command || ""].join(" ").trim();
  }
}

export function tickTimers(ui) {
  if (!ui.state) return;
  const since = performance.now() - ui.receivedAt;
  for (const b of document.querySelectorAll("[data-timer]")) {
    const left = ui.state.timers[b.dataset.timer];
    b.textContent = left === null || left === undefined ? "–" : `${Math.max(0, (left - since) / 1000).toFixed(1)} s`;
  }
}

// ---- buzz timeline --------------------------------------------------------------------------
export function timeline(el, ui) {
  const s = ui.state, t = s.timeline, g = s.game;
  // judged wrong this question (players), and who answers now (a podium)
  const wrong = new Set(g.info.locked_out || []);
  const now = g.phase === "answering" ? g.winner : null;
  const parts = [h("h2", {}, `Buzz timeline · Q${t.q}`)];
  if (now) parts.push(h("p", { class: "now", id: "answering-now" }, "Answering now: ",
    h("strong", {}, who(s, now).player || now), who(s, now).seat ? ` (seat ${who(s, now).seat})` : ""));
  else if (g.phase === "open" && wrong.size) parts.push(h("p", { class: "now", id: "answering-now" },
    `Judged wrong: ${[...wrong].join(", ")}; the buzzers are open for the others`));
  if (!t.decisions.length && !t.false_starts.length) parts.push(h("p", { class: "muted" }, "No buzz yet."));
  t.decisions.forEach((d, i) => {
    const head = d.order[0];
    const winner = d.winner ? who(s, d.winner).player || d.winner : null;
    const title = winner ? `winner ${winner}` : "no winner";
    parts.push(h("div", { class: "decision", dataset: { epoch: d.epoch } },
      h("div", { class: "dhead" }, h("strong", {}, title),
        winner && wrong.has(winner) ? h("span", { class: "tag wrong" }, "judged wrong") : null,
        d.tied.length ? h("span", { class: "tag tie" }, `TIE ${d.tied.join(" = ")} · rule ${d.tie_rule}`) : null,
        d.flags.filter((f) => f !== "tie").map((f) => h("span", { class: "tag" }, f))),
      h("table", { class: "order" },
        h("thead", {}, h("tr", {}, ["#", "seat", "player", "time", "± bound", "gap", "Wi-Fi order"].map((c) => h("th", {}, c)))),
        h("tbody", {}, d.order.map((r, n) => h("tr", {
          class: [r.tied ? "tied" : "", wrong.has(r.player) ? "wrong" : "", r.podium === now ? "answering" : ""].join(" ").trim(),
          dataset: { podium: r.podium } },
          h("td", {}, n + 1), h("td", {}, r.seat ?? "–"),
          h("td", {}, r.player || r.podium,
            wrong.has(r.player) ? h("span", { class: "tag wrong" }, "wrong") : null,
            r.podium === now ? h("span", { class: "tag now" }, "answering") : null),
          h("td", {}, `${r.mapped_us - head.mapped_us >= 0 ? "+" : ""}${us(r.mapped_us - head.mapped_us)}`),
          h("td", { class: "bound" }, `±${us(r.err_us)}`),
          h("td", {}, n === 0 ? "–" : `+${us(r.gap_us)}`),
          h("td", { class: r.wifi_rank !== n + 1 ? "differs" : "" }, r.wifi_rank ? ordinal(r.wifi_rank) : "–"))))),
      why(ui, d, `${d.epoch}:${i}`)));
  });
  if (t.false_starts.length) {
    parts.push(h("h3", {}, "False starts"), h("ul", { class: "false-starts" }, t.false_starts.map((f) =>
      h("li", {}, `seat ${f.seat ?? "–"} ${f.player || f.podium}: pressed early, locked out ${f.lockout_ms} ms`))));
  }
  fill(el, ...parts);
}

function why(ui, d, key) {
  const ev = d.evidence || {};
  // host times as ms after the buzzers opened, which a person can compare with the timeline
  const afterArm = (t) => (t === null || t === undefined || ev.arm_us === undefined ? "–" : `${((t - ev.arm_us) / 1000).toFixed(3)} ms`);
  const details = h("details", { class: "why", open: ui.openDrawers.has(key),
    ontoggle: (e) => e.currentTarget.open ? ui.openDrawers.add(key) : ui.openDrawers.delete(key) },
    h("summary", {}, "why"),
    h("dl", {},
      h("dt", {}, "flags"), h("dd", {}, d.flags.length ? d.flags.join(", ") : "none"),
      h("dt", {}, "mode / tie rule"), h("dd", {}, `${ev.mode} / ${ev.tie_rule}`),
      h("dt", {}, "first press reached the host"), h("dd", {}, `${afterArm(ev.first_arrival_us)} after arm`),
      h("dt", {}, "waited after the first arrival"), h("dd", {}, us(ev.wait_us)),
      h("dt", {}, "still waiting for"), h("dd", {}, (ev.waiting_for || []).join(", ") || "nobody"),
      h("dt", {}, "lock acknowledged by"), h("dd", {}, (ev.lock_acks || []).join(", ") || "nobody yet"),
      h("dt", {}, "offline / excluded"), h("dd", {}, `${(ev.offline || []).join(", ") || "–"} / ${(ev.excluded || []).join(", ") || "–"}`),
      ev.draw ? [h("dt", {}, "random draw"), h("dd", {}, `seed ${ev.draw.seed} among ${ev.draw.among.join(", ")}: ${ev.draw.picked}`)] : null),
    h("table", { class: "evidence" },
      h("thead", {}, h("tr", {}, ["podium", "seq", "pressed (after arm)", "± bound", "reached the host (after arm)", "trusted clock"].map((c) => h("th", {}, c)))),
      h("tbody", {}, (ev.presses || []).map((p) => h("tr", {},
        h("td", {}, p.podium), h("td", {}, p.seq), h("td", { class: "num" }, afterArm(p.mapped_us)), h("td", {}, `±${us(p.err_us)}`),
        h("td", { class: "num" }, afterArm(p.arrival_us)), h("td", {}, p.trusted ? "yes" : "NO"))))),
    h("table", { class: "evidence" },
      h("thead", {}, h("tr", {}, ["podium", "heard from up to (after arm)", "± bound", "seq"].map((c) => h("th", {}, c)))),
      h("tbody", {}, Object.entries(ev.watermarks || {}).map(([pid, w]) => h("tr", {},
        h("td", {}, pid), h("td", { class: "num" }, afterArm(w.mapped_us)), h("td", {}, `±${us(w.err_us)}`), h("td", {}, w.seq))))));
  return details;
}

// ---- podiums --------------------------------------------------------------------------------
function clockClass(state, clock) {
  if (!clock || !clock.trusted) return "bad";
  const lim = state.health.clock_limits;
  return clock.err_us <= lim.good_us ? "good" : clock.err_us <= lim.trusted_us ? "warn" : "bad";
}

// The capture bound its presses get: declared by the podium (its selftest), or a default
// (SPEC §4.8), which the card says in words: presses closer than it become ties.
const CAPTURE_DEFAULT = { board: "default for its board", logged: "default: from the log, no hello yet", none: "default: no hello" };

function capture(c) {
  if (!c) return h("dd", {}, "–");
  const text = `±${us(Math.ceil(c.us / 2))}`;
  return c.declared ? h("dd", { class: "capture declared" }, `${text} declared`)
    : h("dd", { class: "capture default warn", title: "not declared by the podium: close races become ties" }, `${text} ${CAPTURE_DEFAULT[c.source] || "default"}`);
}

export function podiums(el, ui) {
  const s = ui.state;
  const reg = Object.fromEntries(s.podiums.map((p) => [p.podium, p]));
  const order = podiumOrder(s);
  const cards = order.map((pid, i) => {
    const r = reg[pid] || { podium: pid, online: s.game.info.podiums[pid]?.online };
    const w = who(s, pid);
    const c = r.clock;
    return h("article", { class: `podium ${r.online ? "online" : "offline"} ${ui.selected === pid ? "selected" : ""}`,
      dataset: { podium: pid }, onclick: () => { ui.selected = pid; ui.render(); } },
      h("header", {}, h("span", { class: "dot", style: w.col ? `background:#${w.col}` : null }),
        h("strong", {}, w.seat ? `${w.seat} · ` : "", pid), i < 9 ? h("kbd", {}, i + 1) : null,
        h("span", { class: "state" }, r.online ? "online" : "OFFLINE")),
      r.online ? null : h("div", { class: "offline-banner", role: "alert" },
        `OFFLINE${r.seen_ago_ms != null ? ` · last heard ${(r.seen_ago_ms / 1000).toFixed(0)} s ago` : ""}`),
      h("div", { class: "player" }, w.player || "(unassigned)", w.team ? ` · ${w.team}` : ""),
      h("dl", {},
        h("dt", {}, "clock"), h("dd", { class: `clock ${clockClass(s, c)}` }, c ? `±${us(c.err_us)}${c.trusted ? "" : " untrusted"}` : "no sync"),
        h("dt", {}, "capture"), capture(r.capture),
        h("dt", {}, "RSSI"), h("dd", {}, r.rssi != null ? `${r.rssi} dBm` : "–"),
        h("dt", {}, "battery"), h("dd", {}, r.batt_mv != null ? `${(r.batt_mv / 1000).toFixed(2)} V` : "–"),
        h("dt", {}, "firmware"), h("dd", {}, r.fw || "–"),
        h("dt", {}, "last seen"), h("dd", {}, r.seen_ago_ms != null ? `${(r.seen_ago_ms / 1000).toFixed(1)} s ago` : "–"),
        h("dt", {}, "seq gaps / faults"), h("dd", {}, `${r.seq_gaps ?? 0} / ${r.faults ?? 0}`)),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: (e) => { e.stopPropagation(); ui.command("identify", { podium: pid }); } }, "Identify"),
        h("button", { type: "button", onclick: (e) => { e.stopPropagation(); assign(ui, pid); } }, "Assign…"),
        h("button", { type: "button", disabled: !w.player, onclick: (e) => { e.stopPropagation(); ui.command("unassign", { podium: pid }); } }, "Unassign"),
        h("button", { type: "button", disabled: !w.player, onclick: (e) => { e.stopPropagation(); rename(ui, w.player); } }, "Rename…")));
  });
  fill(el, h("h2", {}, `Podiums · ${s.podiums.filter((p) => p.online).length} online`),
    cards.length ? h("div", { class: "cards" }, cards) : h("p", { class: "muted" }, "No podium has said hello yet."));
}

function assign(ui, pid) {
  const s = ui.state;
  const players = Object.keys(s.show.players);
  openForm(ui, `Assign a player to ${pid}`, [
    { name: "player", type: "choice", choices: ["(new player)", ...players], default: players[0] || "(new player)", help: "who stands at this podium" },
    { name: "new_name", type: "str", default: "", help: "a new player's name (with (new player))" },
    ...(s.show.teams.length ? [{ name: "team", type: "choice", choices: s.show.teams, default: s.show.teams[0], help: "the new player's team" }] : []),
  ], async (v) => {
    const create = v.player === "(new player)";
    const args = { podium: pid, player: create ? v.new_name : v.player };
    if (create) { args.create = true; if (v.team) args.team = v.team; }
    const r = await ui.send("POST", "/api/command", { name: "assign", args });
    return r.ok ? null : r.reason;
  });
}

function rename(ui, player) {
  openForm(ui, `Rename ${player}`, [{ name: "to", type: "str", default: player, help: "the new name (score and podium follow)" }],
    async (v) => {
      const r = await ui.send("POST", "/api/command", { name: "rename", args: { player, to: v.to } });
      return r.ok ? null : r.reason;
    });
}

// ---- scores ---------------------------------------------------------------------------------
export function scores(el, ui) {
  const s = ui.state, g = s.game;
  const teamOf = s.show.players;
  const names = Object.keys(g.scores);
  const teams = {};
  for (const n of names) if (teamOf[n]) teams[teamOf[n]] = (teams[teamOf[n]] || 0) + g.scores[n];
  const rows = names.map((n) => {
    const delta = h("input", { type: "number", step: "1", placeholder: "±", "aria-label": `points for ${n}`, class: "delta" });
    const reason = h("input", { type: "text", placeholder: "reason", "aria-label": `reason for ${n}`, maxlength: 120 });
    const apply = async (e) => {
      e.preventDefault();
      const d = Number(delta.value);
      if (!Number.isInteger(d) || d === 0) return ui.toast("points: a whole number, not 0", "bad");
      if (await ui.command("adjust", { player: n, delta: d, reason: reason.value || "adjust" })) {
        delta.value = ""; reason.value = ""; delta.blur(); reason.blur();
      }
    };
    return h("tr", { dataset: { player: n } }, h("td", {}, n), h("td", {}, teamOf[n] || ""),
      h("td", { class: "num score" }, g.scores[n]),
      h("td", {}, h("form", { class: "adjust", onsubmit: apply }, delta, reason, h("button", { type: "submit" }, "Adjust"))));
  });
  fill(el, h("h2", {}, "Scores"),
    h("table", { class: "scores" }, h("thead", {}, h("tr", {}, ["player", "team", "score", "adjust"].map((c) => h("th", {}, c)))), h("tbody", {}, rows)),
    Object.keys(teams).length ? h("p", { class: "teams" }, Object.entries(teams).map(([t, v]) => h("span", { class: "tag" }, `${t} ${v}`))) : null,
    h("h3", {}, "History"),
    h("ol", { class: "history", reversed: true }, s.score_history.slice(-30).reverse().map((e) =>
      h("li", {}, `Q${e.q} ${e.player} ${e.delta > 0 ? "+" : ""}${e.delta} → ${e.total} (${e.reason})`))));
}

// ---- adapters -------------------------------------------------------------------------------
export function adapters(el, ui) {
  const list = ui.state.adapters;
  const action = async (method, url, body) => {
    const r = await ui.send(method, url, body);
    if (!r.ok) ui.toast(r.reason, "bad");
  };
  fill(el, h("h2", {}, "Adapters"),
    list.length ? h("table", { class: "adapters" },
      h("thead", {}, h("tr", {}, ["name", "kind", "status", "queue", "drops", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, list.map((a) => h("tr", { dataset: { adapter: a.name } },
        h("td", {}, a.name), h("td", {}, a.kind),
        h("td", {}, h("span", { class: `tag status-${a.status}` }, a.enabled === false ? "disabled" : a.status), a.message ? h("div", { class: "muted" }, a.message) : null),
        h("td", { class: "num" }, a.queue), h("td", { class: "num" }, a.drops),
        h("td", { class: "actions" },
          h("button", { type: "button", onclick: () => adapterForm(ui, a) }, "Settings…"),
          h("button", { type: "button", onclick: () => action("PATCH", `/api/adapters/${encodeURIComponent(a.name)}`, { enabled: a.enabled === false }) }, a.enabled === false ? "Enable" : "Disable"),
          h("button", { type: "button", onclick: () => confirm(`Remove ${a.name}?`) && action("DELETE", `/api/adapters/${encodeURIComponent(a.name)}`) }, "Remove")))))) :
      h("p", { class: "muted" }, "No adapter running."),
    h("button", { type: "button", onclick: () => adapterForm(ui, null) }, "Add adapter…"));
}

// ---- health ---------------------------------------------------------------------------------
function histogram(title, hist) {
  const buckets = hist.buckets;
  let prev = 0;
  const bars = buckets.map(([le, n]) => { const c = n - prev; prev = n; return [le, c]; });
  const max = Math.max(1, ...bars.map((b) => b[1]));
  const mean = hist.count ? `${((hist.sum / hist.count) * 1000).toFixed(2)} ms mean` : "none yet";
  return h("figure", { class: "hist" }, h("figcaption", {}, `${title}: ${hist.count} (${mean})`),
    h("div", { class: "bars" }, bars.map(([le, c]) => h("div", { class: "bar", title: `${c} at ≤ ${le === "+Inf" ? "∞" : le * 1000 + " ms"}` },
      h("span", { style: `height:${Math.round((c / max) * 100)}%` }), h("small", {}, le === "+Inf" ? "∞" : le * 1000)))),
    h("small", { class: "muted" }, "upper bound of each bar in ms"));
}

export function health(el, ui) {
  const s = ui.state, he = s.health, b = he.broker;
  const rejects = Object.entries(s.rejects);
  fill(el, h("h2", {}, "Health"),
    h("div", { class: "health" },
      h("div", {},
        h("h3", {}, "Broker"),
        h("p", { id: "broker", class: b.connected ? "good" : "bad" }, `${b.connected ? "connected" : "DOWN"} · ${b.host}`),
        h("p", { class: "muted" }, `${b.reconnects} reconnects · ${b.superseded} publishes superseded`),
        h("h3", {}, "Rejects by reason"),
        rejects.length ? h("table", {}, h("tbody", {}, rejects.map(([r, n]) => h("tr", {}, h("td", {}, r), h("td", { class: "num" }, n))))) : h("p", { class: "muted" }, "none")),
      h("div", {}, histogram("Lockout latency", he.lockout_s), histogram("Decision latency", he.decision_s)),
      h("div", {},
        h("h3", {}, "Clock sync per podium"),
        h("table", {}, h("thead", {}, h("tr", {}, ["podium", "best round trip", "samples", "± bound", "skew"].map((c) => h("th", {}, c)))),
          h("tbody", {}, s.podiums.filter((p) => p.clock).map((p) => h("tr", {},
            h("td", {}, p.podium), h("td", {}, us(p.clock.min_rtt_us)), h("td", { class: "num" }, p.clock.samples),
            h("td", { class: `clock ${clockClass(s, p.clock)}` }, `±${us(p.clock.err_us)}`), h("td", {}, `${p.clock.skew_ppm} ppm`))))),
        h("h3", {}, "Notice subscribers"),
        h("table", {}, h("tbody", {}, he.subscribers.map((x) => h("tr", {}, h("td", {}, x.name), h("td", { class: "num" }, `queue ${x.queue}`), h("td", { class: "num" }, `drops ${x.drops}`))))))));
}
