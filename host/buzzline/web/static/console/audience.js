// The audience panel: for each audience adapter of this host, the join code and link, phones
// joined and connected, answers per second and by outcome, each cluster node's health, and the
// current question's answers by choice (live while it is open). Its own poll of /api/audience
// (once a second): the audience is not part of the game's state document. Hidden without one.
import { h, fill } from "./dom.js";
import { poller } from "./net.js";

const POLL_MS = 1000;

function pct(n, total) {
  return total ? Math.round((100 * n) / total) : 0;
}

function spread(s) {
  if (!s) return h("p", { class: "muted" }, "No question yet.");
  const state = s.scored ? "results out" : s.closed ? "closed" : "open";
  return h("div", { class: "aud-spread" },
    h("p", {}, h("strong", {}, `Q${s.q} `), s.text, h("span", { class: "muted" }, `  ·  ${state} · ${s.answers} answers`)),
    h("table", {}, h("tbody", {}, s.choices.map((c, i) => h("tr", { class: s.correct === i ? "right" : null },
      h("td", {}, c + (s.correct === i ? " ✓" : "")),
      h("td", { class: "num" }, String(s.counts[i])),
      h("td", { class: "num" }, `${pct(s.counts[i], s.answers)}%`),
      h("td", { class: "barcell" }, h("span", { class: "bar", style: `width:${pct(s.counts[i], s.answers)}%` })))))));
}

function nodes(rows) {
  if (!rows.length) return h("p", { class: "muted" }, "No node monitoring (the adapter's monitor setting).");
  return h("table", { class: "aud-nodes" },
    h("thead", {}, h("tr", {}, ["node", "state", "phones", "connections", "messages out"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.map((n) => h("tr", { dataset: { node: n.name || n.url }, class: n.up ? "" : "down" },
      h("td", {}, n.name || n.url),
      h("td", {}, h("span", { class: `tag ${n.up ? "good" : "bad"}` }, n.up ? "up" : "DOWN")),
      h("td", { class: "num" }, n.up ? String(n.phones ?? "–") : "–"),
      h("td", { class: "num" }, n.up ? String(n.connections) : "–"),
      h("td", { class: "num" }, n.up ? String(n.out_msgs) : "–")))));
}

function draw(el, data) {
  const shows = data.audience;
  el.hidden = !shows.length;
  if (!shows.length) return;
  fill(el, h("h2", {}, "Audience"), shows.map((a) => {
    const up = a.nodes.filter((n) => n.up).length;
    const refused = Object.entries(a.answers).filter(([k]) => k !== "accepted");
    return h("div", { class: "aud", dataset: { code: a.code } },
      h("p", {}, h("strong", { class: "aud-code" }, a.code), "  ", h("a", { href: a.join_url, target: "_blank" }, a.join_url),
        a.connected ? null : h("span", { class: "tag bad" }, " adapter not connected to the cluster")),
      h("dl", { class: "aud-counts" },
        h("dt", {}, "joined"), h("dd", { class: "joined" }, String(a.joined)),
        h("dt", {}, "connected"), h("dd", { class: "phones" }, String(a.phones)),
        h("dt", {}, "playing"), h("dd", {}, String(a.players)),
        h("dt", {}, "answers/s"), h("dd", { class: "rate" }, a.answer_rate.toFixed(1)),
        h("dt", {}, "accepted"), h("dd", { class: "accepted" }, String(a.answers.accepted || 0)),
        h("dt", {}, "refused"), h("dd", {}, refused.length ? refused.map(([k, v]) => `${k} ${v}`).join(", ") : "0"),
        h("dt", {}, "nodes up"), h("dd", { class: "nodes-up" }, a.nodes.length ? `${up}/${a.nodes.length}` : "–")),
      nodes(a.nodes),
      spread(a.spread));
  }));
}

export function startAudience(el) {
  poller("/api/audience", POLL_MS, (data) => draw(el, data));
}
