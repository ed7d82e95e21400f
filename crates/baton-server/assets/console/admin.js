/* Baton console: the team lead's pages. Every setting the API has, with the API's own
 * validation messages: each form sends what it shows and prints the server's answer. Loaded
 * before app.js; uses its helpers (h, api, all, toast, S, render). */
"use strict";

// ---------- building blocks ----------
const csv = (s) => String(s || "").split(",").map((x) => x.trim()).filter(Boolean);
const slug = (s) => String(s || "").toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 50);
function uniqueId(base, taken) {
  let id = base || "item", n = 2;
  while (taken.includes(id)) id = base + "_" + n++;
  return id;
}
const num = (v) => (v === "" || v == null ? undefined : Number(v));
// Skills as people write them: "billing:2, refunds" (level 1 when omitted).
function skillsText(skills) { return (skills || []).map((s) => s.level && s.level !== 1 ? s.name + ":" + s.level : s.name).join(", "); }
function parseSkills(text) {
  return csv(text).map((p) => {
    const [name, level] = p.split(":").map((x) => x.trim());
    return { name, level: level === undefined ? 1 : Number(level) };
  });
}
// Lowered skill levels of an overflow step: "billing:0" (0 drops the skill).
function parseLevels(text) {
  return csv(text).map((p) => {
    const [skill, level] = p.split(":").map((x) => x.trim());
    return { skill, min_level: level === undefined ? 0 : Number(level) };
  });
}
function table(id, headers, rows, empty) {
  if (!rows.length && empty) return h("p", { class: "empty", id: id ? id + "-empty" : null, text: empty });
  return h("div", { class: "table-wrap" }, h("table", { id }, h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { text: t })))), h("tbody", {}, ...rows)));
}
const card = (title, ...kids) => h("div", { class: "card" }, h("h3", { text: title }), ...kids);
const muted = (text, id) => h("p", { class: "muted", id, text });
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
// A button whose action reports its error as a toast and redraws the tab when it is done.
function action(label, attrs, fn) {
  return h("button", Object.assign({ type: "button", text: label }, attrs, { onclick: async () => {
    try { const msg = await fn(); if (msg) toast(msg, null, "ok"); } catch (e) { if (e.message) toast(e.message); }
    await renderAdminTab();
  } }));
}
function confirmOr(question) { if (!confirm(question)) throw new Error(""); }

/* A form: fields are [name, label, type, opts]. Types: text (default), email, password,
 * number, color, textarea, select (opts.options: values or [value, label]), checkbox,
 * checks (opts.options as for select; opts.value the chosen values; read with .values()).
 * opts.value presets the field, opts.help adds a hint under it. `onsubmit(inputs)` returns the
 * success message or throws; an error shows the API's message under the form. */
function formBox(id, fields, submitLabel, onsubmit, extra) {
  const err = h("div", { class: "error", id: id + "-error", role: "alert", hidden: true });
  const ok = h("div", { class: "ok", id: id + "-ok", role: "status", hidden: true });
  const inputs = {};
  const cells = fields.map(([name, label, type, rawOpts]) => {
    const opts = Array.isArray(rawOpts) ? { options: rawOpts } : (rawOpts || {});
    const fid = id + "-" + name;
    const pairs = (opts.options || []).map((o) => (Array.isArray(o) ? o : [o, o]));
    let input;
    if (type === "select") {
      input = h("select", { id: fid, name }, ...pairs.map(([v, l]) => h("option", { value: v, text: l })));
      if (opts.value != null) input.value = opts.value;
    } else if (type === "textarea") input = h("textarea", { id: fid, name, rows: opts.rows || 4, value: opts.value });
    else if (type === "checkbox") input = h("input", { id: fid, name, type: "checkbox", checked: !!opts.value });
    else if (type === "checks") {
      const chosen = opts.value || [];
      input = h("fieldset", { id: fid, class: "checks" }, h("legend", { text: label }),
        ...(pairs.length ? pairs.map(([v, l]) => h("label", {}, h("input", { type: "checkbox", value: v, checked: chosen.includes(v) }), " " + l)) : [h("span", { class: "muted", text: "none yet" })]));
      input.values = () => [...input.querySelectorAll("input:checked")].map((c) => c.value);
    } else input = h("input", { id: fid, name, type: type || "text", value: opts.value, placeholder: opts.placeholder, step: type === "number" ? "any" : null });
    inputs[name] = input;
    const help = opts.help ? h("div", { class: "muted hint", text: opts.help }) : null;
    if (type === "checks") return h("div", { class: "wide" }, input, help);
    if (type === "checkbox") return h("div", { class: "check" }, input, h("label", { for: fid, text: " " + label }), help);
    return h("div", { class: type === "textarea" || opts.wide ? "wide" : null }, h("label", { for: fid, text: label }), input, help);
  });
  const form = h("form", { class: "inline", id, onsubmit: async (e) => {
    e.preventDefault(); err.hidden = true; ok.hidden = true;
    try {
      const msg = await onsubmit(inputs);
      await renderAdminTab();
      const o = document.getElementById(id + "-ok") || ok;
      o.textContent = msg || "Saved"; o.hidden = false;
    } catch (x) { err.textContent = x.message; err.hidden = false; }
  } }, ...cells, ...(extra || []), h("div", { class: "buttons" }, h("button", { class: "primary", type: "submit", text: submitLabel })));
  return [form, err, ok];
}
// A JSON document edited whole (the API checks it and points at mistakes).
function jsonBox(id, label, value, submitLabel, put, rows) {
  const box = formBox(id, [["doc", label, "textarea", { rows: rows || 12 }]], submitLabel, async (f) => {
    let doc;
    try { doc = JSON.parse(f.doc.value); } catch (x) { throw new Error("That is not valid JSON: " + x.message); }
    return put(doc);
  });
  box[0].querySelector("textarea").value = JSON.stringify(value, null, 2);
  box[0].querySelector("textarea").classList.add("code");
  return box;
}

// Opening hours, as the API takes them: {tz, weekly: {mon: [["09:00", "17:00"]]}, holidays}.
const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
function hoursFields(spec) {
  const s = spec || {};
  const tz = s.tz || (Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
  return [["tz", "Time zone (IANA)", "text", { value: tz, help: "e.g. Europe/Berlin, America/New_York" }],
    ...DAYS.map(([d, name]) => [d, name, "text", { value: ((s.weekly || {})[d] || []).map((r) => r[0] + "-" + r[1]).join(", "), placeholder: "closed", help: d === "mon" ? "Opening hours as 09:00-17:00; several with commas; empty: closed all day" : null }]),
    ["holidays", "Holidays (closed all day)", "text", { value: (s.holidays || []).join(", "), placeholder: "2026-12-25, 2026-12-26", wide: true }]];
}
function readHours(f) {
  const weekly = {};
  for (const [d, name] of DAYS) {
    const ranges = csv(f[d].value).map((r) => {
      const m = r.match(/^(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})$/);
      if (!m) throw new Error(name + ": write opening hours as 09:00-17:00 (got '" + r + "')");
      return [m[1].padStart(5, "0"), m[2].padStart(5, "0")];
    });
    if (ranges.length) weekly[d] = ranges;
  }
  return { tz: f.tz.value.trim(), weekly, holidays: csv(f.holidays.value) };
}

// ---------- the tabs ----------
const ADMIN_TABS = [["agents", "Agents"], ["queues", "Queues"], ["hours", "Business hours"], ["rules", "Rules"], ["bot", "Bot"], ["kb", "Knowledge base"], ["canned", "Canned responses"],
  ["integrations", "Webhooks and alerts"], ["channels", "Channels"], ["widget", "Widget"], ["keys", "API keys"], ["audit", "Audit log"]];
function adminView() {
  const tabs = h("div", { class: "tabs", role: "tablist" }, ...ADMIN_TABS.map(([k, l]) => h("button", { role: "tab", id: "tab-" + k, "aria-selected": String(S.adminTab === k), text: l,
    onclick: () => { S.adminTab = k; S.adminEdit = null; history.replaceState(null, "", "#admin/" + k); render(); } })));
  const panel = h("div", { id: "admin-panel", role: "tabpanel" }, h("p", { class: "muted", text: "Loading…" }));
  setTimeout(renderAdminTab, 0);
  return [tabs, panel];
}
async function renderAdminTab() {
  const panel = document.getElementById("admin-panel");
  if (!panel) return;
  let kids;
  try { kids = await (ADMIN[S.adminTab] || ADMIN.agents)(); } catch (e) { kids = [h("div", { class: "error", role: "alert", text: e.message })]; }
  panel.replaceChildren(...kids);
  const edit = document.querySelector("#admin-panel .editing");
  if (edit && S.adminScroll) { edit.scrollIntoView({ block: "nearest" }); S.adminScroll = false; }
}
function editing(kind, id) { S.adminEdit = { kind, id }; S.adminScroll = true; renderAdminTab(); }
const editOf = (kind) => (S.adminEdit && S.adminEdit.kind === kind ? S.adminEdit.id : null);
const stopEditing = () => h("button", { type: "button", class: "link", text: "Cancel", onclick: () => { S.adminEdit = null; renderAdminTab(); } });

const ADMIN = {};

ADMIN.agents = async () => {
  const [agents, queues] = await Promise.all([api("GET", "/v1/agents").then((r) => r.items), api("GET", "/v1/queues").then((r) => r.items)]);
  const queueOpts = queues.map((q) => [q.id, q.name]);
  const rows = agents.map((a) => h("tr", { "data-agent": a.id, class: a.active === false ? "inactive" : null },
    h("td", { text: a.name }), h("td", { text: a.email || "" }), h("td", { text: a.role }), h("td", { text: a.active === false ? "deactivated" : a.status }),
    h("td", { text: a.queues.join(", ") }), h("td", { text: skillsText(a.skills) }), h("td", { text: a.languages.join(", ") }), h("td", { text: String(a.capacity) }),
    h("td", {}, h("button", { class: "edit", "aria-label": "Edit " + a.name, text: "Edit", onclick: () => editing("agent", a.id) }))));
  const out = [card("Agents", table("agents-admin", ["Name", "Email", "Role", "Status", "Queues", "Skills", "Languages", "Capacity", ""], rows, "No agents yet."))];
  const a = agents.find((x) => x.id === editOf("agent"));
  if (a) {
    out.push(h("div", { class: "card editing", id: "agent-editor" }, h("h3", { text: "Edit " + a.name }),
      ...formBox("agent-edit", [["name", "Name", "text", { value: a.name }], ["role", "Role", "select", { options: ["agent", "supervisor", "admin"], value: a.role }],
        ["languages", "Languages (comma separated)", "text", { value: a.languages.join(", ") }], ["skills", "Skills", "text", { value: skillsText(a.skills), help: "name:level, e.g. billing:3, refunds (level 1-10, default 1)" }],
        ["capacity", "Capacity", "number", { value: String(a.capacity) }], ["queues", "Queues", "checks", { options: queueOpts, value: a.queues }]], "Save changes",
      async (f) => {
        await api("PATCH", "/v1/agents/" + encodeURIComponent(a.id), { name: f.name.value, role: f.role.value, languages: csv(f.languages.value), skills: parseSkills(f.skills.value), capacity: num(f.capacity.value), queues: f.queues.values() });
        return a.name + " saved";
      }, [stopEditing()]),
      h("h4", { text: "Reset password" }),
      ...formBox("agent-password", [["password", "New password", "password", { help: "At least 12 characters; their other sessions end." }]], "Set password", async (f) => {
        await api("PATCH", "/v1/agents/" + encodeURIComponent(a.id), { password: f.password.value }); return "Password changed";
      }),
      h("h4", { text: a.active === false ? "Reactivate" : "Deactivate" }),
      muted(a.active === false ? "They can log in again (offline until they do)." : "They cannot log in, their sessions end and they are offered nothing; their history stays."),
      a.active === false
        ? action("Reactivate " + a.name, { id: "agent-reactivate" }, async () => { await api("PATCH", "/v1/agents/" + encodeURIComponent(a.id), { active: true }); return a.name + " reactivated"; })
        : action("Deactivate " + a.name, { id: "agent-deactivate", class: "danger" }, async () => { confirmOr("Deactivate " + a.name + "?"); await api("PATCH", "/v1/agents/" + encodeURIComponent(a.id), { active: false }); return a.name + " deactivated"; })));
  }
  out.push(card("Add an agent", ...formBox("agent-form", [["name", "Name"], ["email", "Email", "email"], ["password", "Password", "password"], ["role", "Role", "select", ["agent", "supervisor", "admin"]],
    ["languages", "Languages (comma separated)", "text", { value: "en" }], ["skills", "Skills", "text", { placeholder: "billing:3, refunds" }], ["capacity", "Capacity", "number", { value: "3" }], ["queues", "Queues", "checks", { options: queueOpts }]], "Create agent",
  async (f) => {
    await api("POST", "/v1/agents", { name: f.name.value, email: f.email.value, password: f.password.value, role: f.role.value, languages: csv(f.languages.value), queues: f.queues.values(), skills: parseSkills(f.skills.value), capacity: num(f.capacity.value) });
    return "Agent created";
  })));
  return out;
};

const STRATEGY_LABELS = [["longest_idle", "Longest idle"], ["round_robin", "Round robin"], ["least_busy", "Least busy (load balanced)"], ["best_match", "Best match (skills, language, history)"]];
// One overflow step as an editable row; `read()` gives the API's step.
function overflowRow(step, queues, rows) {
  const a = (step && step.action) || { type: "raise_priority", by: 10 };
  const after = h("input", { type: "number", class: "after", "aria-label": "After seconds in the queue", value: String(step ? step.after_secs : 60) });
  const type = h("select", { class: "type", "aria-label": "Then" }, ...[["raise_priority", "raise the priority by"], ["widen", "widen: lower skills / more languages"], ["move_to_queue", "move to the queue"]].map(([v, l]) => h("option", { value: v, text: l })));
  type.value = a.type;
  const by = h("input", { type: "number", class: "by", "aria-label": "Priority points", value: String(a.by || 10) });
  const target = h("select", { class: "queue", "aria-label": "Target queue" }, ...queues.map((q) => h("option", { value: q.id, text: q.name })));
  if (a.queue) target.value = a.queue;
  const lower = h("input", { class: "lower", "aria-label": "Lower skills", placeholder: "billing:1, tech:0", value: (a.lower_skills || []).map((s) => s.skill + ":" + s.min_level).join(", ") });
  const langs = h("input", { class: "langs", "aria-label": "Add languages", placeholder: "en, de", value: (a.add_languages || []).join(", ") });
  const anyLang = h("input", { type: "checkbox", class: "any", "aria-label": "Any language", checked: !!a.any_language });
  const params = h("span", { class: "params" });
  const show = () => params.replaceChildren(...(type.value === "raise_priority" ? [by] : type.value === "move_to_queue" ? [target] : [lower, langs, h("label", {}, anyLang, " any language")]));
  type.addEventListener("change", show); show();
  const row = h("div", { class: "overflow-step" }, "After ", after, " s: ", type, " ", params, " ",
    h("button", { type: "button", class: "link", text: "Remove", onclick: () => { row.remove(); rows.splice(rows.indexOf(row), 1); } }));
  row.read = () => {
    const step = { after_secs: Number(after.value) };
    if (type.value === "raise_priority") step.action = { type: "raise_priority", by: Number(by.value) };
    else if (type.value === "move_to_queue") step.action = { type: "move_to_queue", queue: target.value };
    else {
      step.action = { type: "widen", lower_skills: parseLevels(lower.value), add_languages: csv(langs.value) };
      if (anyLang.checked) step.action.any_language = true;
    }
    return step;
  };
  rows.push(row);
  return row;
}
// The keys of a queue's settings that have their own fields below; the rest is edited as JSON.
const QUEUE_FIELDS = ["auto_accept", "missed_offer", "decline_cooldown_secs", "first_reply_secs", "first_reply_grace_secs", "sticky_window_secs", "aging_per_minute", "overflow", "hours", "transfer"];
function queueEditor(q, queues) {
  const st = q.settings || {};
  const rows = [];
  const others = queues.filter((x) => x.id !== q.id);
  const steps = h("div", { id: "overflow-steps" }, ...(st.overflow || []).map((s) => overflowRow(s, others, rows)));
  const addStep = h("button", { type: "button", id: "overflow-add", text: "Add a step", onclick: () => steps.append(overflowRow(null, others, rows)) });
  const rest = Object.fromEntries(Object.entries(st).filter(([k]) => !QUEUE_FIELDS.includes(k)));
  const hours = st.hours || null;
  const fields = [["name", "Name", "text", { value: q.name }], ["strategy", "Strategy", "select", { options: STRATEGY_LABELS, value: q.strategy }],
    ["offer_timeout_secs", "Offer timeout (s)", "number", { value: String(q.offer_timeout_secs) }],
    ["languages", "Languages (comma separated; empty: any)", "text", { value: q.languages.join(", ") }], ["skills", "Required skills", "text", { value: skillsText(q.skills), help: "name:level, e.g. billing:2" }],
    ["auto_accept", "Accept offers on the agent's behalf", "checkbox", { value: st.auto_accept }],
    ["missed_offer", "A missed offer", "select", { options: [["set_away", "sets the agent away"], ["keep_available", "keeps the agent available"]], value: st.missed_offer || "set_away" }],
    ["decline_cooldown_secs", "Decline cool-down (s)", "number", { value: st.decline_cooldown_secs != null ? String(st.decline_cooldown_secs) : "", placeholder: "300" }],
    ["first_reply_secs", "First reply within (s)", "number", { value: st.first_reply_secs != null ? String(st.first_reply_secs) : "", placeholder: "off", help: "Alert the owner, then offer it to the team" }],
    ["first_reply_grace_secs", "…then offer to the team after (s)", "number", { value: st.first_reply_grace_secs != null ? String(st.first_reply_grace_secs) : "", placeholder: "60" }],
    ["sticky_window_secs", "Wait for a returning customer's agent (s)", "number", { value: st.sticky_window_secs ? String(st.sticky_window_secs) : "", placeholder: "0" }],
    ["aging_per_minute", "Priority gained per minute waiting", "number", { value: st.aging_per_minute != null ? String(st.aging_per_minute) : "" }],
    ["sip_uri", "Voice transfer: SIP URI", "text", { value: (st.transfer || {}).sip_uri || "", placeholder: "sip:support@pbx.example.com" }],
    ["phone", "Voice transfer: phone", "text", { value: (st.transfer || {}).phone || "", placeholder: "+15550100" }],
    ["own_hours", "Own business hours (otherwise the tenant's)", "checkbox", { value: !!hours }],
    ...hoursFields(hours).map(([n, l, t, o]) => ["hours_" + n, l, t, o]),
    ["rest", "Other settings (JSON: best-match weights…)", "textarea", { rows: 3, value: JSON.stringify(rest) }]];
  const extra = [h("div", { class: "wide" }, h("h4", { text: "Overflow: what happens while it waits" }), muted("Steps by time spent in the queue; when nobody who may take it is staffed they run at once."), steps, addStep), stopEditing()];
  const box = formBox("queue-edit", fields, "Save queue", async (f) => {
    let settings;
    try { settings = JSON.parse(f.rest.value || "{}"); } catch (x) { throw new Error("Other settings: that is not valid JSON: " + x.message); }
    if (f.auto_accept.checked) settings.auto_accept = true;
    if (f.missed_offer.value !== "set_away") settings.missed_offer = f.missed_offer.value;
    for (const k of ["decline_cooldown_secs", "first_reply_secs", "first_reply_grace_secs", "sticky_window_secs", "aging_per_minute"]) if (f[k].value !== "") settings[k] = Number(f[k].value);
    if (rows.length) settings.overflow = rows.map((r) => r.read());
    if (f.sip_uri.value.trim() || f.phone.value.trim()) settings.transfer = Object.fromEntries([["sip_uri", f.sip_uri.value.trim()], ["phone", f.phone.value.trim()]].filter(([, v]) => v));
    if (f.own_hours.checked) {
      const hf = Object.fromEntries(["tz", "holidays", ...DAYS.map(([d]) => d)].map((k) => [k, f["hours_" + k]]));
      settings.hours = readHours(hf);
    }
    await api("PUT", "/v1/queues/" + encodeURIComponent(q.id), { name: f.name.value, strategy: f.strategy.value, offer_timeout_secs: num(f.offer_timeout_secs.value), languages: csv(f.languages.value), skills: parseSkills(f.skills.value), settings });
    return q.name + " saved";
  }, extra);
  // The hours fields only while the queue keeps its own hours.
  const form = box[0];
  const sync = () => { for (const el of form.querySelectorAll("[name^=hours_]")) el.closest("div").hidden = !form.elements.namedItem("own_hours").checked; };
  form.elements.namedItem("own_hours").addEventListener("change", sync); sync();
  return h("div", { class: "card editing", id: "queue-editor" }, h("h3", { text: "Edit " + q.name }), ...box);
}
ADMIN.queues = async () => {
  const queues = (await api("GET", "/v1/queues")).items;
  const label = Object.fromEntries(STRATEGY_LABELS);
  const rows = queues.map((q) => {
    const st = q.settings || {};
    return h("tr", { "data-queue": q.id }, h("td", {}, h("code", { text: q.id })), h("td", { text: q.name }), h("td", { text: label[q.strategy] || q.strategy }), h("td", { text: q.offer_timeout_secs + "s" }),
      h("td", { text: q.languages.join(", ") || "any" }), h("td", { text: skillsText(q.skills) || "—" }), h("td", { text: st.hours ? "own (" + st.hours.tz + ")" : "tenant's" }),
      h("td", { text: (st.overflow || []).length ? (st.overflow || []).length + " steps" : "—" }),
      h("td", {}, h("button", { class: "edit", "aria-label": "Edit " + q.name, text: "Edit", onclick: () => editing("queue", q.id) }), " ",
        action("Delete", { class: "danger", "aria-label": "Delete " + q.name }, async () => { confirmOr("Delete the queue " + q.name + "? Its waiting conversations move to the default queue."); await api("DELETE", "/v1/queues/" + encodeURIComponent(q.id)); S.adminEdit = null; return "Queue deleted"; })));
  });
  const out = [card("Queues", table("queues-admin", ["Id", "Name", "Strategy", "Offer timeout", "Languages", "Skills", "Hours", "Overflow", ""], rows, "No queues: every handoff waits in the built-in default queue."))];
  const q = queues.find((x) => x.id === editOf("queue"));
  if (q) out.push(queueEditor(q, queues));
  out.push(card("Add a queue", ...formBox("queue-form", [["id", "Id"], ["name", "Name"], ["strategy", "Strategy", "select", { options: STRATEGY_LABELS }], ["offer_timeout_secs", "Offer timeout (s)", "number", { value: "30" }],
    ["languages", "Languages (comma separated)"], ["skills", "Required skills", "text", { placeholder: "billing:2" }]], "Create queue",
  async (f) => { await api("POST", "/v1/queues", { id: f.id.value || undefined, name: f.name.value, strategy: f.strategy.value, offer_timeout_secs: num(f.offer_timeout_secs.value), languages: csv(f.languages.value), skills: parseSkills(f.skills.value) }); return "Queue created"; })));
  return out;
};

ADMIN.hours = async () => {
  const spec = await api("GET", "/v1/business-hours");
  return [card("Business hours",
    muted(spec ? "Queues without their own hours follow these. While closed, new handoffs are deferred: the customer leaves an email and hears when the team is back." : "Not set: always open. Queues may have their own hours (Queues tab)."),
    ...formBox("hours-form", hoursFields(spec), "Save hours", async (f) => { await api("PUT", "/v1/business-hours", readHours(f)); return "Business hours saved"; }),
    spec ? action("Remove the hours: always open", { id: "hours-remove", class: "danger" }, async () => {
      confirmOr("Remove the business hours? Queues without their own hours are always open, and conversations waiting for the opening are offered now.");
      await api("DELETE", "/v1/business-hours"); return "Business hours removed: always open";
    }) : null)];
};

// ---------- rules ----------
const OPS = { eq: "=", "==": "=", "=": "=", ne: "≠", "!=": "≠", gt: ">", ">": ">", gte: "≥", ">=": "≥", lt: "<", "<": "<", lte: "≤", "<=": "≤" };
function condText(c) {
  if (!c || typeof c !== "object") return String(c);
  if (c.all) return c.all.length ? c.all.map(condText).join(" and ") : "always";
  if (c.any) return "(" + c.any.map(condText).join(" or ") + ")";
  if (c.not) return "not " + condText(c.not);
  if (c.signal) {
    const op = OPS[c.op || "eq"] || c.op;
    if (c.value == null || (op === "=" && c.value === 1)) return c.signal.replace(/_/g, " ");
    return c.signal.replace(/_/g, " ") + " " + op + " " + c.value;
  }
  if (c.text_matches) return "text matches /" + c.text_matches + "/";
  if (c.topic) return "topic " + c.topic;
  if (c.role) return "written by the " + c.role;
  if (c.customer) return "customer " + c.customer + " " + (OPS[c.op || "eq"] || c.op) + " " + JSON.stringify(c.value);
  if (c.conversation) return "conversation " + c.conversation + " " + (OPS[c.op || "eq"] || c.op) + " " + JSON.stringify(c.value);
  if (c.business_hours) return "business hours " + JSON.stringify(c.business_hours);
  return JSON.stringify(c);
}
function actionText(a) {
  switch (a.type) {
    case "escalate": return "hand over";
    case "offer_human": return "offer a person";
    case "defer": return "defer (follow up later)";
    case "route": return "to queue " + a.queue;
    case "priority": return "priority " + a.value;
    case "tag": return "tag " + a.tag;
    case "notify": return "notify " + (a.team || "");
    default: return a.type;
  }
}
const reEscape = (s) => s.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&");
ADMIN.rules = async () => {
  const [doc, queues] = await Promise.all([api("GET", "/v1/rules"), api("GET", "/v1/queues").then((r) => r.items)]);
  const rules = doc.rules || [];
  const save = async (next) => api("PUT", "/v1/rules", Object.assign({}, doc, { rules: next }));
  const rows = rules.map((r, i) => h("tr", { "data-rule": r.id }, h("td", { text: r.name || r.id }), h("td", { text: condText(r.when) }), h("td", { text: (r.actions || []).map(actionText).join(", ") }),
    h("td", { text: r.reason || "" }),
    h("td", { class: "nowrap" }, i > 0 ? action("↑", { "aria-label": "Move " + (r.name || r.id) + " up", title: "Rules run in order: move up" }, async () => { const n = rules.slice(); [n[i - 1], n[i]] = [n[i], n[i - 1]]; await save(n); }) : null, " ",
      action("Delete", { class: "danger", "aria-label": "Delete rule " + (r.name || r.id) }, async () => { confirmOr("Delete the rule " + (r.name || r.id) + "?"); await save(rules.filter((x) => x !== r)); return "Rule deleted"; }))));
  const box = jsonBox("rules-form", "Rules (JSON)", doc, "Save rules", async (d) => { await api("PUT", "/v1/rules", d); return "Rules saved"; }, 18);
  return [
    card("Escalation rules", muted("Rules run in order; every rule that fires is recorded, the first that decides wins."), table("rules-table", ["Rule", "When", "Then", "Reason", ""], rows, "No rules: nothing escalates on its own.")),
    card("Add a rule", muted("The common kinds; anything else in the JSON below."), ...formBox("rule-form", [["name", "Name"],
      ["kind", "When", "select", { options: [["words", "the customer writes any of these words"], ["topic", "a sensitive topic comes up"], ["tier", "the customer's tier is"], ["attribute", "a customer attribute is (name=value)"]] }],
      ["value", "Words / topic / tier / name=value", "text", { placeholder: "cancel my account, lawyer", wide: true }],
      ["escalate", "Hand over to a person", "checkbox", { value: true }], ["queue", "Send to queue", "select", { options: [["", "(its queue)"], ...queues.map((q) => [q.id, q.name])] }],
      ["priority", "Priority (0-100)", "number"], ["tag", "Tag"]], "Add rule",
    async (f) => {
      const v = f.value.value.trim();
      if (!f.name.value.trim()) throw new Error("Give the rule a name");
      if (!v) throw new Error("Say when it applies: the words, the topic, the tier or name=value");
      let when;
      if (f.kind.value === "words") when = { text_matches: "(?i)\\b(?:" + csv(v).map(reEscape).join("|") + ")\\b" };
      else if (f.kind.value === "topic") when = { topic: v };
      else if (f.kind.value === "tier") when = { customer: "tier", op: "eq", value: v };
      else {
        const m = v.match(/^([A-Za-z0-9_.]+)\s*=\s*(.+)$/);
        if (!m) throw new Error("Write the attribute as name=value, e.g. plan=enterprise");
        when = { customer: "attributes." + m[1], op: "eq", value: m[2].trim() };
      }
      const actions = [];
      if (f.escalate.checked) actions.push({ type: "escalate" });
      if (f.queue.value) actions.push({ type: "route", queue: f.queue.value });
      if (f.priority.value !== "") actions.push({ type: "priority", value: Number(f.priority.value) });
      if (f.tag.value.trim()) actions.push({ type: "tag", tag: f.tag.value.trim() });
      if (!actions.length) throw new Error("Choose what the rule does: hand over, a queue, a priority or a tag");
      const id = uniqueId(slug(f.name.value) || "rule", rules.map((r) => r.id));
      const rule = { id, name: f.name.value.trim(), when, actions };
      if (f.escalate.checked) rule.reason = id;
      await save(rules.concat([rule]));
      return "Rule added";
    })),
    card("All rules as JSON", muted("The whole document is checked before anything is stored; mistakes point at the exact place."), ...box)];
};

// ---------- bot, review, extractors ----------
ADMIN.bot = async () => {
  const [bot, review, extractors] = await Promise.all([api("GET", "/v1/bot"), api("GET", "/v1/review"), api("GET", "/v1/extractors")]);
  const kb = bot.kb || {}, wh = bot.webhook || {}, llm = bot.llm || {};
  const botBox = formBox("bot-form", [["type", "Bot", "select", { options: [["none", "None: customers wait for a person"], ["kb", "Knowledge base: answers from your articles"], ["webhook", "Webhook: your own bot"], ["llm", "LLM: an OpenAI-compatible model with your articles"]], value: bot.type }],
    ["kb_threshold", "Answer from confidence (0-1)", "number", { value: String(kb.threshold != null ? kb.threshold : 0.35) }], ["kb_max", "Articles per answer (1-10)", "number", { value: String(kb.max_articles || 3) }],
    ["wh_url", "Webhook URL", "text", { value: wh.url || "", placeholder: "https://bot.example.com/baton", wide: true }], ["wh_secret", "Webhook signing secret", "password", { value: wh.secret || "", help: "*** keeps the stored one" }],
    ["wh_timeout", "Webhook timeout (ms)", "number", { value: String(wh.timeout_ms || 5000) }],
    ["llm_base", "LLM API root", "text", { value: llm.base_url || "", placeholder: "https://api.openai.com/v1", wide: true }], ["llm_model", "Model", "text", { value: llm.model || "" }],
    ["llm_key", "API key", "password", { value: llm.api_key || "", help: "*** keeps the stored one; empty for local servers" }], ["llm_timeout", "LLM timeout (ms)", "number", { value: String(llm.timeout_ms || 15000) }],
    ["llm_temperature", "Temperature (0-2)", "number", { value: llm.temperature != null ? String(llm.temperature) : "" }],
    ["llm_prompt", "Instructions (replace Baton's)", "textarea", { rows: 3, value: llm.system_prompt || "" }]], "Save bot",
  async (f) => {
    const body = { type: f.type.value, kb: { threshold: num(f.kb_threshold.value), max_articles: num(f.kb_max.value) } };
    if (f.type.value === "webhook") body.webhook = { url: f.wh_url.value.trim(), secret: f.wh_secret.value, timeout_ms: num(f.wh_timeout.value) };
    if (f.type.value === "llm") {
      body.llm = { base_url: f.llm_base.value.trim(), model: f.llm_model.value.trim(), timeout_ms: num(f.llm_timeout.value) };
      if (f.llm_key.value) body.llm.api_key = f.llm_key.value;
      if (f.llm_temperature.value !== "") body.llm.temperature = Number(f.llm_temperature.value);
      if (f.llm_prompt.value.trim()) body.llm.system_prompt = f.llm_prompt.value;
    }
    await api("PUT", "/v1/bot", body);
    return "Bot saved";
  });
  // Only the chosen bot's fields.
  const form = botBox[0];
  const groups = { kb_: ["kb", "llm"], wh_: ["webhook"], llm_: ["llm"] };
  const sync = () => {
    for (const el of form.querySelectorAll("input, textarea")) {
      const g = Object.keys(groups).find((p) => el.name && el.name.startsWith(p));
      if (g) el.closest("div").hidden = !groups[g].includes(form.elements.namedItem("type").value);
    }
  };
  form.elements.namedItem("type").addEventListener("change", sync); sync();
  const exRows = extractors.map((x) => h("tr", { "data-extractor": x.name }, h("td", {}, h("code", { text: x.name })), h("td", {}, h("code", { text: x.pattern })),
    h("td", {}, action("Delete", { class: "danger", "aria-label": "Delete extractor " + x.name }, async () => { await api("PUT", "/v1/extractors", extractors.filter((y) => y !== x)); return "Extractor deleted"; }))));
  return [card("Bot", muted("What answers customers before a person does."), ...botBox),
    card("Review mode", muted("Hold the bot's unsure replies for an agent to approve, edit or reject before the customer sees them."),
      ...formBox("review-form", [["enabled", "Hold unsure bot replies for review", "checkbox", { value: review.enabled }], ["threshold", "Hold below confidence (0-1)", "number", { value: String(review.threshold != null ? review.threshold : 0.5) }]], "Save review mode",
        async (f) => { await api("PUT", "/v1/review", { enabled: f.enabled.checked, threshold: num(f.threshold.value) }); return "Review mode saved"; })),
    card("Extractors", muted("Fields the handoff brief pulls out of the conversation with a regular expression (the first group when there is one): an order number, an account id."),
      table("extractors-table", ["Field", "Pattern", ""], exRows, "No extractors of your own."),
      ...formBox("extractor-form", [["name", "Field name", "text", { placeholder: "order_number" }], ["pattern", "Pattern", "text", { placeholder: "#(\\d{6})", wide: true }]], "Add extractor",
        async (f) => { await api("PUT", "/v1/extractors", extractors.concat([{ name: f.name.value.trim(), pattern: f.pattern.value }])); return "Extractor added"; }))];
};

ADMIN.kb = async () => {
  const arts = (await api("GET", "/v1/kb/articles")).items;
  const edit = editOf("article");
  const art = edit ? await api("GET", "/v1/kb/articles/" + encodeURIComponent(edit)) : null;
  const rows = arts.map((a) => h("tr", { "data-article": a.id }, h("td", { text: a.title }), h("td", { text: a.tags.join(", ") }), h("td", { text: a.language }),
    h("td", {}, h("button", { class: "edit", "aria-label": "Edit " + a.title, text: "Edit", onclick: () => editing("article", a.id) }), " ",
      action("Delete", { class: "danger", "aria-label": "Delete " + a.title }, async () => { confirmOr("Delete " + a.title + "?"); await api("DELETE", "/v1/kb/articles/" + encodeURIComponent(a.id)); return "Article deleted"; }))));
  const fields = (a) => [["title", "Title", "text", { value: a && a.title }], ["tags", "Tags (comma separated)", "text", { value: a && a.tags.join(", ") }], ["language", "Language", "text", { value: (a && a.language) || "en" }], ["body", "Body (Markdown)", "textarea", { rows: 8, value: a && a.body }]];
  const body = (f) => ({ title: f.title.value, body: f.body.value, tags: csv(f.tags.value), language: f.language.value || undefined });
  return [card("Articles", table("kb-table", ["Title", "Tags", "Language", ""], rows, "No articles yet.")),
    art ? h("div", { class: "card editing" }, h("h3", { text: "Edit " + art.title }), ...formBox("kb-edit", fields(art), "Save article", async (f) => { await api("PUT", "/v1/kb/articles/" + encodeURIComponent(art.id), body(f)); S.adminEdit = null; return "Article saved"; }, [stopEditing()]))
      : card("Add an article", ...formBox("kb-form", fields(null), "Add article", async (f) => { await api("POST", "/v1/kb/articles", body(f)); return "Article added"; }))];
};

ADMIN.canned = async () => {
  const list = await api("GET", "/v1/canned-responses");
  S.canned = list;
  const save = async (next) => { S.canned = await api("PUT", "/v1/canned-responses", next); };
  const c = list.find((x) => x.id === editOf("canned"));
  const fields = (x) => [["title", "Title", "text", { value: x && x.title }], ["tags", "Tags (comma separated)", "text", { value: x && (x.tags || []).join(", ") }], ["language", "Language", "text", { value: (x && x.language) || "", placeholder: "en" }], ["text", "Text", "textarea", { rows: 3, value: x && x.text }]];
  const read = (f, id) => { const r = { id, title: f.title.value, text: f.text.value, tags: csv(f.tags.value) }; if (f.language.value.trim()) r.language = f.language.value.trim(); return r; };
  return [card("Canned responses",
    muted("Agents insert these by typing / in the reply box. Variables: {{customer.name}}, {{customer.first_name}}, {{customer.email}}, {{agent.name}}, {{agent.first_name}}."),
    table("canned-table", ["Title", "Text", "Tags", "Language", ""], list.map((x) => h("tr", { "data-id": x.id }, h("td", { text: x.title }), h("td", { text: x.text }), h("td", { text: (x.tags || []).join(", ") }), h("td", { text: x.language || "en" }),
      h("td", {}, h("button", { class: "edit", "aria-label": "Edit " + x.title, text: "Edit", onclick: () => editing("canned", x.id) }), " ",
        action("Delete", { class: "danger", "aria-label": "Delete " + x.title }, async () => { confirmOr("Delete " + x.title + "?"); await save(list.filter((y) => y.id !== x.id)); return "Deleted"; })))), "None yet.")),
  c ? h("div", { class: "card editing" }, h("h3", { text: "Edit " + c.title }), ...formBox("canned-edit", fields(c), "Save", async (f) => { await save(list.map((y) => (y.id === c.id ? read(f, c.id) : y))); S.adminEdit = null; return "Canned response saved"; }, [stopEditing()]))
    : card("Add a canned response", ...formBox("canned-form", fields(null), "Add", async (f) => {
      const id = uniqueId(slug(f.title.value).replace(/_/g, "-") || "reply", list.map((x) => x.id));
      await save(list.concat([read(f, id)]));
      return "Canned response added";
    }))];
};

// ---------- webhooks, Slack/Teams, deliveries ----------
const NOTIFY = [["handoff", "handoffs"], ["offer_unanswered", "unanswered offers"], ["wait_over_target", "waits over target"]];
ADMIN.integrations = async () => {
  const state = S.deliveryState || "";
  const [hooks, notes, queues, deliveries] = await Promise.all([all("/v1/webhooks"), all("/v1/notifications"), api("GET", "/v1/queues").then((r) => r.items),
    api("GET", "/v1/deliveries?limit=50" + (state ? "&state=" + state : "") + (S.deliveryCursor ? "&cursor=" + encodeURIComponent(S.deliveryCursor) : ""))]);
  const subName = {};
  hooks.forEach((w) => { subName[w.id] = "webhook " + (w.description || w.url); });
  notes.forEach((n) => { subName[n.id] = n.kind + " (" + n.url_host + ")"; });
  const hookRows = hooks.map((w) => h("tr", { "data-webhook": w.id }, h("td", {}, h("code", { text: w.url })), h("td", { text: w.events.join(", ") }), h("td", { text: w.channel || "all" }), h("td", { text: w.description || "" }),
    h("td", { text: w.enabled ? "on" : "paused" }),
    h("td", {}, action(w.enabled ? "Pause" : "Resume", { "aria-label": (w.enabled ? "Pause " : "Resume ") + w.url }, async () => { await api("PATCH", "/v1/webhooks/" + w.id, { enabled: !w.enabled }); return w.enabled ? "Paused" : "Resumed"; }), " ",
      action("Rotate secret", {}, async () => { confirmOr("The old secret stops working. Rotate?"); const r = await api("POST", "/v1/webhooks/" + w.id + "/rotate-secret"); S.shownSecret = "New signing secret (shown once): " + r.secret; }), " ",
      action("Delete", { class: "danger", "aria-label": "Delete webhook " + w.url }, async () => { confirmOr("Delete the webhook to " + w.url + "?"); await api("DELETE", "/v1/webhooks/" + w.id); return "Webhook deleted"; }))));
  const noteRows = notes.map((n) => h("tr", { "data-notification": n.id }, h("td", { text: n.kind }), h("td", { text: n.url_host }), h("td", { text: n.queue || "all" }), h("td", { text: n.notify.join(", ") }), h("td", { text: n.min_interval_secs + "s" }),
    h("td", {}, action("Delete", { class: "danger", "aria-label": "Delete " + n.kind + " notification" }, async () => { confirmOr("Stop posting to " + n.url_host + "?"); await api("DELETE", "/v1/notifications/" + n.id); return "Notification deleted"; }))));
  const dRows = deliveries.items.map((d) => h("tr", { "data-delivery": d.id, class: "delivery-" + d.state }, h("td", { text: when(d.created_at) }), h("td", { text: d.event_type || "#" + d.event_seq }), h("td", { text: subName[d.subscription] || d.subscription }),
    h("td", {}, h("span", { class: "badge", text: d.state })), h("td", { text: String(d.attempts) }), h("td", { class: "muted", text: d.last_error || "" }),
    h("td", {}, d.state === "pending" ? null : action("Redeliver", { class: "redeliver", "aria-label": "Redeliver " + d.id }, async () => { await api("POST", "/v1/deliveries/" + d.id + "/redeliver"); return "Queued for delivery"; }))));
  const filter = h("select", { id: "delivery-state", "aria-label": "Show deliveries", onchange: (e) => { S.deliveryState = e.target.value; S.deliveryCursor = null; renderAdminTab(); } },
    ...[["", "all"], ["dead", "dead letters"], ["pending", "pending"], ["delivered", "delivered"], ["skipped", "skipped"]].map(([v, l]) => h("option", { value: v, text: l })));
  filter.value = state;
  const secret = S.shownSecret; S.shownSecret = null;
  return [
    secret ? h("div", { class: "ok", id: "shown-secret", role: "status", text: secret }) : null,
    card("Webhooks", muted("Signed (Standard Webhooks) POSTs of conversation events to your systems, retried with backoff."), table("webhooks-table", ["URL", "Events", "Channel", "Description", "State", ""], hookRows, "No webhooks."),
      ...formBox("webhook-form", [["url", "URL", "text", { placeholder: "https://example.com/hooks/baton", wide: true }], ["events", "Events (comma separated, * for all)", "text", { value: "*" }], ["channel", "Only the channel", "text", { placeholder: "web" }], ["description", "Description"]], "Add webhook",
        async (f) => {
          const body = { url: f.url.value.trim(), events: csv(f.events.value) };
          if (f.channel.value.trim()) body.channel = f.channel.value.trim();
          if (f.description.value.trim()) body.description = f.description.value.trim();
          const w = await api("POST", "/v1/webhooks", body);
          return "Webhook added. Its signing secret (shown once): " + w.secret;
        })),
    card("Slack and Teams", muted("Posts to a channel when a conversation is handed off, an offer goes unanswered or a wait runs over target."), table("notifications-table", ["Kind", "Host", "Queue", "About", "Digest window", ""], noteRows, "No Slack or Teams notifications."),
      ...formBox("notification-form", [["kind", "Kind", "select", { options: [["slack", "Slack"], ["teams", "Microsoft Teams"]] }], ["url", "Incoming-webhook URL", "text", { wide: true, placeholder: "https://hooks.slack.com/services/…" }],
        ["queue", "Only the queue", "select", { options: [["", "all queues"], ...queues.map((q) => [q.id, q.name])] }], ["notify", "About", "checks", { options: NOTIFY, value: NOTIFY.map((n) => n[0]) }], ["min_interval_secs", "Digest window (s)", "number", { value: "30" }]], "Add notification",
      async (f) => {
        const body = { kind: f.kind.value, url: f.url.value.trim(), notify: f.notify.values(), min_interval_secs: num(f.min_interval_secs.value) };
        if (f.queue.value) body.queue = f.queue.value;
        await api("POST", "/v1/notifications", body);
        return "Notification added";
      })),
    card("Deliveries", h("div", { class: "actions" }, h("label", { for: "delivery-state", text: "Show " }), filter),
      table("deliveries-table", ["When", "Event", "To", "State", "Attempts", "Last error", ""], dRows, state === "dead" ? "No dead letters." : "No deliveries."),
      h("div", { class: "actions" }, S.deliveryCursor ? h("button", { type: "button", text: "First page", onclick: () => { S.deliveryCursor = null; renderAdminTab(); } }) : null,
        deliveries.next_cursor ? h("button", { type: "button", id: "deliveries-more", text: "Older", onclick: () => { S.deliveryCursor = deliveries.next_cursor; renderAdminTab(); } }) : null)),
  ].filter(Boolean);
};

// ---------- channels ----------
ADMIN.channels = async () => {
  const [wa, email, agents] = await Promise.all([api("GET", "/v1/channels/whatsapp").catch((e) => { if (e.status === 404) return null; throw e; }), api("GET", "/v1/channels/email"), api("GET", "/v1/agents").then((r) => r.items)]);
  const w = wa || {};
  const tpl = w.fallback_template || {};
  return [
    card("WhatsApp", wa ? h("p", { id: "whatsapp-callback" }, "Callback URL for the Meta app dashboard: ", h("code", { text: location.origin + wa.webhook_path })) : muted("Off. Connect a WhatsApp Business number of the Cloud API."),
      ...formBox("whatsapp-form", [["phone_number_id", "Phone number ID", "text", { value: w.phone_number_id || "" }], ["access_token", "Access token", "password", { value: w.access_token || "" }],
        ["app_secret", "App secret", "password", { value: w.app_secret || "" }], ["verify_token", "Verify token", "password", { value: w.verify_token || "", help: "Secrets show as ***; *** keeps the stored one" }],
        ["api_version", "Graph API version", "text", { value: w.api_version || "", placeholder: "default" }], ["api_base_url", "Graph API host", "text", { value: w.api_base_url || "", placeholder: "https://graph.facebook.com" }],
        ["tpl_name", "Template after 24 hours: name", "text", { value: tpl.name || "" }], ["tpl_language", "Template language", "text", { value: tpl.language || "", placeholder: "en_US" }],
        ["handoff_button", "Offer a \"Talk to a person\" button under bot replies", "checkbox", { value: w.handoff_button !== false }]], wa ? "Save WhatsApp" : "Connect WhatsApp",
      async (f) => {
        const body = { phone_number_id: f.phone_number_id.value.trim(), access_token: f.access_token.value, app_secret: f.app_secret.value, verify_token: f.verify_token.value, handoff_button: f.handoff_button.checked };
        if (f.api_version.value.trim()) body.api_version = f.api_version.value.trim();
        if (f.api_base_url.value.trim()) body.api_base_url = f.api_base_url.value.trim();
        if (f.tpl_name.value.trim()) body.fallback_template = { name: f.tpl_name.value.trim(), language: f.tpl_language.value.trim() };
        await api("PUT", "/v1/channels/whatsapp", body);
        return "WhatsApp saved";
      }),
      wa ? action("Disconnect WhatsApp", { class: "danger", id: "whatsapp-off" }, async () => { confirmOr("Disconnect WhatsApp? Customers writing to the number get no answer from Baton."); await api("DELETE", "/v1/channels/whatsapp"); return "WhatsApp disconnected"; }) : null),
    card("Email", email.smtp_configured ? null : h("p", { class: "warn", id: "smtp-missing", text: "This server has no SMTP server configured ([smtp] in its config file): nothing is sent until it has." }),
      ...formBox("email-form", [["enabled", "Send email (replies to deferred conversations, transcripts, handoff alerts)", "checkbox", { value: email.enabled }],
        ["notify_agents", "Email these people about every handoff", "checks", { options: agents.filter((a) => a.active !== false && a.email).map((a) => [a.id, a.name + " <" + a.email + ">"]), value: email.notify_agents }]], "Save email",
      async (f) => { await api("PUT", "/v1/channels/email", { enabled: f.enabled.checked, notify_agents: f.notify_agents.values() }); return "Email saved"; })),
  ];
};

// ---------- widget ----------
ADMIN.widget = async () => {
  const [k, secret] = await Promise.all([api("GET", "/v1/widget/key"), api("GET", "/v1/widget/identity-secret")]);
  const looks = S.widgetLooks || (S.widgetLooks = { color: "#2b59c3", position: "right", launcher: "", greeting: "" });
  const snippet = () => {
    if (!k.public_key) return "";
    const attrs = [["src", location.origin + "/widget.js"], ["data-key", k.public_key]];
    if (looks.color && looks.color !== "#2b59c3") attrs.push(["data-color", looks.color]);
    if (looks.position === "left") attrs.push(["data-position", "left"]);
    if (looks.launcher) attrs.push(["data-launcher-text", looks.launcher]);
    if (looks.greeting) attrs.push(["data-greeting", looks.greeting]);
    const q = (v) => String(v).replace(/&/g, "&amp;").replace(/"/g, "&quot;");
    return "<script " + attrs.map(([a, v]) => a + '="' + q(v) + '"').join(" ") + " async></script>";
  };
  const code = h("code", { text: snippet() });
  const looksBox = formBox("widget-looks", [["color", "Colour", "color", { value: looks.color }], ["position", "Position", "select", { options: [["right", "bottom right"], ["left", "bottom left"]], value: looks.position }],
    ["launcher", "Launcher text", "text", { value: looks.launcher, placeholder: "Chat with us" }], ["greeting", "Greeting", "text", { value: looks.greeting, placeholder: "Hi! How can we help?", wide: true }]], "Update the snippet",
  async (f) => { Object.assign(looks, { color: f.color.value, position: f.position.value, launcher: f.launcher.value.trim(), greeting: f.greeting.value.trim() }); return "Snippet updated: copy it again"; });
  const shown = S.shownSecret; S.shownSecret = null;
  const identify = "// On your page, once the visitor is signed in (identity_hash computed by your server):\nBaton.identify({\n  external_id: \"user-42\",\n  name: \"Ada Lovelace\",\n  email: \"ada@example.com\",\n  identity_hash: \"<hex HMAC-SHA256 of external_id with the identity secret>\"\n});";
  return [
    card("Customer widget", k.public_key
      ? h("div", {}, h("p", { text: "Paste this tag into your site:" }), h("pre", { id: "widget-snippet", class: "wrap" }, code), h("p", {}, h("a", { href: "/demo?key=" + k.public_key, target: "_blank", rel: "noopener", text: "Open the demo page" })))
      : h("p", { text: "No widget key yet." }),
    ...formBox("widget-form", [], k.public_key ? "Rotate key" : "Create key", async () => { if (k.public_key && !confirm("The old key stops working on your site until you paste the new snippet. Rotate?")) throw new Error("Not rotated"); await api("POST", "/v1/widget/key"); return "New widget key created"; })),
    card("Looks", muted("Colour, position and words of the launcher: they go into the snippet as data- attributes."), ...looksBox),
    card("Identity verification",
      shown ? h("div", { class: "ok", id: "identity-secret-shown", role: "status" }, "Copy this secret to your site's server now; it is shown once: ", h("code", { text: shown })) : null,
      h("p", { id: "identity-status", text: secret.configured ? "On since " + when(secret.created_at) + ": a visitor who says who they are must prove it, or nothing is stored." : "Off: the widget believes any identity a page gives it." }),
      muted("Your server computes identity_hash = hex HMAC-SHA256 of the customer's external_id with this secret, and the page passes it along:"),
      h("pre", { class: "wrap" }, h("code", { text: identify })),
      h("div", { class: "actions" },
        action(secret.configured ? "Rotate secret" : "Turn on: create a secret", { id: "identity-secret-create" }, async () => {
          if (secret.configured) confirmOr("Hashes made with the old secret stop working. Rotate?");
          const r = await api("POST", "/v1/widget/identity-secret"); S.shownSecret = r.secret;
        }),
        secret.configured ? action("Turn off", { class: "danger", id: "identity-secret-delete" }, async () => { confirmOr("Turn identity verification off?"); await api("DELETE", "/v1/widget/identity-secret"); return "Identity verification is off"; }) : null)),
  ];
};

ADMIN.keys = async () => {
  const keys = (await api("GET", "/v1/api-keys")).items;
  return [card("API keys", table("keys-table", ["Name", "Prefix", "Created", "Revoked", ""], keys.map((k) => h("tr", {}, h("td", { text: k.name }), h("td", {}, h("code", { text: k.prefix })), h("td", { text: when(k.created_at) }), h("td", { text: k.revoked_at ? when(k.revoked_at) : "—" }),
    h("td", {}, k.revoked_at ? null : action("Revoke", { class: "danger", "aria-label": "Revoke " + k.name }, async () => { confirmOr("Revoke " + k.name + "? Integrations using it stop working."); await api("DELETE", "/v1/api-keys/" + k.id); return "Key revoked"; })))), "No API keys.")),
  card("Create a key", ...formBox("key-form", [["name", "Name"]], "Create key", async (f) => { const k = await api("POST", "/v1/api-keys", { name: f.name.value }); return "Copy this key now, it is shown once: " + k.key; }))];
};

// ---------- audit log ----------
const AUDIT_KINDS = [["", "every change"], ["agent", "agents"], ["queue", "queues"], ["rules", "rules"], ["business_hours", "business hours"], ["bot", "bot"], ["review", "review mode"], ["extractors", "extractors"],
  ["canned_responses", "canned responses"], ["kb_article", "knowledge base"], ["webhook", "webhooks"], ["api_key", "API keys"], ["widget", "widget"], ["customer", "customers (erasure)"]];
function auditWhat(e) {
  const d = e.data || {};
  const bits = [];
  for (const k of ["id", "name", "email", "key", "queue", "url"]) if (d[k] != null && typeof d[k] !== "object") bits.push(k + " " + d[k]);
  if (d.changes && typeof d.changes === "object") bits.push("changed " + Object.keys(d.changes).join(", "));
  else if (d.before !== undefined || d.after !== undefined) bits.push("before/after recorded");
  return bits.join("; ");
}
ADMIN.audit = async () => {
  const f = S.auditFilter || (S.auditFilter = { kind: "", agent: "", since: "" });
  const agents = (await api("GET", "/v1/agents")).items;
  S.agents = agents;
  let q = "/v1/audit?limit=50";
  if (f.kind) q += "&kind=" + encodeURIComponent(f.kind);
  if (f.agent) q += "&agent=" + encodeURIComponent(f.agent);
  if (f.since) q += "&since=" + encodeURIComponent(new Date(f.since + "T00:00:00").toISOString());
  if (S.auditCursor) q += "&cursor=" + encodeURIComponent(S.auditCursor);
  const page = await api("GET", q);
  const rows = page.items.map((e) => h("tr", { "data-seq": String(e.seq) }, h("td", { text: when(e.at) }), h("td", { text: actorLabel(e.actor) || "Baton" }), h("td", { text: eventLabel(e.type) }), h("td", { class: "muted", text: auditWhat(e) }),
    h("td", {}, h("details", {}, h("summary", { text: "Details" }), h("pre", { class: "wrap" }, h("code", { text: JSON.stringify(e.data, null, 2) }))))));
  const box = formBox("audit-filter", [["kind", "What", "select", { options: AUDIT_KINDS, value: f.kind }], ["agent", "Who", "select", { options: [["", "anyone"], ...agents.map((a) => [a.id, a.name])], value: f.agent }], ["since", "Since", "date", { value: f.since }]], "Show",
    async (i) => { Object.assign(f, { kind: i.kind.value, agent: i.agent.value, since: i.since.value }); S.auditCursor = null; return ""; });
  return [card("Audit log", muted("Every change to the tenant's configuration: who, when, and what it was before."), ...box,
    table("audit-table", ["When", "Who", "What", "Summary", "Details"], rows, "Nothing changed in that range."),
    h("div", { class: "actions" }, S.auditCursor ? h("button", { type: "button", text: "Newest", onclick: () => { S.auditCursor = null; renderAdminTab(); } }) : null,
      page.next_cursor ? h("button", { type: "button", id: "audit-more", text: "Older", onclick: () => { S.auditCursor = page.next_cursor; renderAdminTab(); } }) : null))];
};
