// Keyboard first: every key the operator needs, listed in the `?` overlay. Keys are ignored
// while typing in a field or while a form is open; the mouse does everything too.
import { h, fill } from "./dom.js";

// [key as matched, label, what it does, command name (shown when the phase accepts it), action]
export function keymap(ui) {
  const c = ui.command;
  const keys = [
    ["r", "R", "read the question", "read", () => c("read")],
    [" ", "Space", "arm the buzzers", "arm", () => c("arm")],
    // the podium the console shows answering goes along: refused if an overturn changed it since
    ["enter", "Enter", "judge right", "judge", () => c("judge", { correct: true, podium: ui.state.game.winner })],
    ["backspace", "Backspace", "judge wrong (reopens for the others)", "judge",
      () => c("judge", { correct: false, podium: ui.state.game.winner })],
    ["t", "T", "time out (close the window or the answer)", "timeout", () => c("timeout")],
    ["n", "N", "next question", "next", () => c("next")],
    ["ctrl+z", "Ctrl+Z", "undo", "undo", () => c("undo")],
    ["ctrl+shift+z", "Ctrl+Shift+Z", "redo", "redo", () => c("redo")],
    ["i", "I", "identify (blink) the selected podium", null, () => ui.identify()],
    ["?", "?", "this help", null, () => toggleHelp(ui)],
  ];
  for (let n = 1; n <= 9; n++) keys.push([String(n), String(n), `select podium ${n}`, null, () => ui.select(n)]);
  return keys;
}

function combo(e) {
  const ctrl = e.ctrlKey || e.metaKey;
  let key = e.key === " " ? " " : e.key.toLowerCase();
  if (ctrl && key === "z") return e.shiftKey ? "ctrl+shift+z" : "ctrl+z";
  if (ctrl || e.altKey) return null;
  return key;
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

export function installKeys(ui) {
  const keys = keymap(ui);
  const byKey = new Map(keys.map((k) => [k[0], k]));
  document.addEventListener("keydown", (e) => {
    const help = document.getElementById("help");
    if (e.key === "Escape" && help.open) { help.close(); e.preventDefault(); return; }
    if (typing(e.target) || document.getElementById("form-dialog").open) return;
    const k = byKey.get(combo(e));
    if (!k) return;
    e.preventDefault();  // Space must not scroll nor Backspace navigate, nor a focused button click
    if (help.open && k[0] !== "?") help.close();
    k[4]();
  });
  fillHelp(ui, keys);
}

function fillHelp(ui, keys) {
  const help = document.getElementById("help");
  fill(help,
    h("h2", {}, "Keyboard"),
    h("table", {}, h("tbody", {}, keys.filter((k) => !/^[2-9]$/.test(k[0])).map((k) =>
      h("tr", {}, h("td", {}, h("kbd", {}, k[0] === "1" ? "1 – 9" : k[1])), h("td", {}, k[0] === "1" ? "select a podium (its seat)" : k[2]))))),
    h("p", {}, "A refused command shows the host's reason at the bottom right. Esc closes this."),
    h("form", { method: "dialog" }, h("button", {}, "Close")));
}

export function toggleHelp() {
  const help = document.getElementById("help");
  if (help.open) help.close(); else help.showModal();
}
