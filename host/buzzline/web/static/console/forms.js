// Forms in a modal dialog, generated from a field list shaped like an adapter's CONFIG_SCHEMA
// ({name, type, default, required, min, max, choices, help}). The game keys are off while open.
import { h, fill } from "./dom.js";

function input(f, value) {
  const id = `f-${f.name}`;
  const common = { id, name: f.name, required: f.required || null };
  let el;
  switch (f.type) {
    case "bool": el = h("input", { ...common, type: "checkbox", checked: !!value }); break;
    case "int": case "float":
      el = h("input", { ...common, type: "number", step: f.type === "int" ? "1" : "any", min: f.min ?? null, max: f.max ?? null,
        value: value ?? "" }); break;
    case "choice": el = h("select", common, f.choices.map((c) => h("option", { value: c, selected: c === value }, c))); break;
    case "list": el = h("input", { ...common, type: "text", value: (value || []).join(", "), placeholder: "a, b, c" }); break;
    case "table": el = h("textarea", { ...common, rows: 3 }, JSON.stringify(value ?? {}, null, 1)); break;
    default: el = h("input", { ...common, type: "text", value: value ?? "" });
  }
  return h("div", { class: "field" }, h("label", { for: id }, f.name, f.required ? " *" : ""), el,
    f.help ? h("small", {}, f.help) : null);
}

function read(form, fields) {
  const out = {};
  for (const f of fields) {
    const el = form.elements[f.name];
    if (!el) continue;
    if (f.type === "bool") out[f.name] = el.checked;
    else if (f.type === "int" || f.type === "float") { if (el.value !== "") out[f.name] = Number(el.value); }
    else if (f.type === "list") out[f.name] = el.value.split(",").map((x) => x.trim()).filter(Boolean);
    else if (f.type === "table") {
      try { out[f.name] = JSON.parse(el.value || "{}"); } catch (e) { throw new Error(`${f.name}: not JSON`); }
    } else out[f.name] = el.value;
  }
  return out;
}

// onSubmit(values) resolves to null when done, or the host's reason (shown in the form)
export function openForm(ui, title, fields, onSubmit, values = {}, extra = null) {
  const dlg = document.getElementById("form-dialog");
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { method: "dialog" },
    h("h2", {}, title), extra,
    fields.map((f) => input(f, f.name in values ? values[f.name] : f.default)),
    error,
    h("div", { class: "actions" }, h("button", { type: "submit", value: "ok" }, "Save"),
      h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    let v;
    try { v = read(form, fields); } catch (err) { error.textContent = err.message; return; }
    const why = await onSubmit(v);
    if (why) error.textContent = why; else dlg.close();
  });
  fill(dlg, form);
  dlg.showModal();
  return form;
}

export async function adapterForm(ui, inst) {
  const r = await ui.send("GET", "/api/adapters");
  if (!r.ok) return ui.toast(r.reason, "bad");
  const kinds = r.data.kinds;
  if (!inst && !kinds.length) return ui.toast("no adapter kind is installed", "bad");
  const show = (kind) => {
    const k = kinds.find((x) => x.kind === kind);
    const schema = k ? k.schema : [];
    const head = inst ? null : [
      h("div", { class: "field" }, h("label", { for: "f-kind" }, "kind"),
        h("select", { id: "f-kind", onchange: (e) => show(e.target.value) }, kinds.map((x) => h("option", { value: x.kind, selected: x.kind === kind }, `${x.kind} (${x.title})`)))),
      h("div", { class: "field" }, h("label", { for: "f-instance" }, "name *"), h("input", { id: "f-instance", required: true, value: kind })),
    ];
    openForm(ui, inst ? `Settings of ${inst.name} (${inst.kind})` : "Add an adapter", schema, async (v) => {
      const res = inst
        ? await ui.send("PATCH", `/api/adapters/${encodeURIComponent(inst.name)}`, { config: v })
        : await ui.send("POST", "/api/adapters", { name: document.getElementById("f-instance").value, kind, config: v });
      return res.ok ? null : res.reason;
    }, inst ? inst.config : {}, head);
  };
  show(inst ? inst.kind : kinds[0].kind);
}
