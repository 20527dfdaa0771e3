// The fleet panel: each podium's firmware release, whether a newer one is available, a progress
// bar while it updates, the outcome, and update / roll back buttons. Its own poll of /api/fleet
// (once a second): the firmware is not part of the game's state document.
import { h, fill } from "./dom.js";
import { poller } from "./net.js";

const POLL_MS = 1000;

function release(p) {
  return p.rel ? `${p.ver} · ${p.rel.slice(0, 8)}` : `${p.ver || "?"} · flashed`;
}

function outcome(p) {
  if (!p.step) return h("span", { class: "muted" }, "–");
  const bad = p.step === "failed" || p.step === "rolledback" || p.step === "interrupted";
  const text = p.err ? `${p.step}: ${p.err}` : p.step;
  return h("span", { class: `tag ${bad ? "bad" : p.step === "good" ? "good" : ""}` }, text);
}

function draw(el, ui, data) {
  const act = async (action, podiums) => {
    const r = await ui.send("POST", `/api/fleet/${action}`, { podiums });
    if (!r.ok) ui.toast(`${action}: ${r.reason}`, "bad");
    else pollNow();
  };
  const rows = data.podiums;
  const available = rows.filter((p) => p.available);
  fill(el, h("h2", {}, "Firmware"),
    data.server ? null : h("p", { class: "muted" }, "This host serves no releases (start it with --releases DIR)."),
    rows.length ? h("table", { class: "fleet" },
      h("thead", {}, h("tr", {}, ["podium", "release", "available", "progress", "outcome", ""].map((c) => h("th", {}, c)))),
      h("tbody", {}, rows.map((p) => h("tr", { dataset: { podium: p.id } },
        h("td", {}, p.id),
        h("td", { class: "release" }, release(p)),
        h("td", { class: "available" }, p.available ? `${p.available.version} · ${p.available.digest.slice(0, 8)}` : "up to date"),
        h("td", {}, p.step === "fetch" || p.step === "switch"
          ? h("progress", { max: 100, value: p.pct ?? 0, title: `${p.pct ?? 0}% · ${p.got} bytes` }) : null),
        h("td", { class: "outcome" }, outcome(p)),
        h("td", { class: "actions" },
          p.available ? h("button", { type: "button", class: "update", onclick: () => act("push", [p.id]) }, "Update") : null,
          p.rel ? h("button", { type: "button", class: "rollback",
            onclick: () => confirm(`Roll ${p.id} back to its previous release?`) && act("rollback", [p.id]) }, "Roll back") : null))))) :
      h("p", { class: "muted" }, "No podium has said hello yet."),
    available.length > 1 ? h("button", { type: "button", onclick: () => act("push", available.map((p) => p.id)) },
      `Update ${available.length} podiums`) : null);
}

let pollNow = () => {};

export function startFleet(el, ui) {
  // no redraw under a focused button: the operator is about to press it
  const busy = () => el.contains(document.activeElement) && document.activeElement.tagName === "BUTTON";
  pollNow = poller("/api/fleet", POLL_MS, (data) => draw(el, ui, data), busy);
}
