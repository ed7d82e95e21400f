/* Baton console: the analytics page (supervisors and admins). Charts are SVG drawn here; no
   library, no CDN. Every figure links to the conversations behind it (drill-down). */
"use strict";

const A = { range: "30", filters: { queue: "", agent: "", channel: "", reason: "", tier: "" }, data: null, drill: null, error: null };
const SVGNS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null) continue;
    // Through the CSSOM: the Content-Security-Policy forbids style attributes.
    if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids.flat()) if (k != null) e.append(k.nodeType ? k : document.createTextNode(String(k)));
  return e;
}
function pct(x) { return x == null ? "—" : (x * 100).toFixed(1) + " %"; }
function secs(x) {
  if (x == null) return "—";
  if (x < 90) return Math.round(x) + " s";
  if (x < 5400) return (x / 60).toFixed(1) + " min";
  return (x / 3600).toFixed(1) + " h";
}
function query(extra) {
  const days = Number(A.range);
  const to = new Date();
  const from = new Date(to.getTime() - days * 86400000);
  const p = new URLSearchParams({ from: from.toISOString().replace(/\.\d+Z$/, "Z"), to: to.toISOString().replace(/\.\d+Z$/, "Z") });
  for (const [k, v] of Object.entries(A.filters)) if (v) p.set(k, v);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p.toString();
}
async function loadAnalytics() {
  A.error = null;
  try {
    const q = query();
    const [summary, agents, series] = await Promise.all([
      api("GET", "/v1/analytics/summary?" + q), api("GET", "/v1/analytics/agents?" + q), api("GET", "/v1/analytics/timeseries?" + q),
    ]);
    A.data = { summary, agents: agents.items, series };
  } catch (e) { A.error = e.message; A.data = null; }
}
async function drill(figure, label) {
  try {
    const r = await api("GET", "/v1/analytics/conversations?" + query({ figure }));
    A.drill = { figure, label, total: r.total, items: r.items };
  } catch (e) { toast(e.message); }
  render();
  const d = document.getElementById("drill"); if (d) d.scrollIntoView();
}

/* A line or bar chart of one series: points [{label, value}], value may be null. */
function chart(id, title, points, opts) {
  const W = 560, H = 170, L = 44, B = 24, T = 10, R = 22;
  const vals = points.map((p) => p.value).filter((v) => v != null);
  // Counts get whole-number gridlines (a multiple of 4); other series 10 % headroom.
  const top = Math.max(0, ...vals);
  const max = opts.max != null ? opts.max : opts.integer ? Math.max(4, Math.ceil((top * 1.1) / 4) * 4) : Math.max(1, top * 1.1);
  const x = (i) => L + (points.length <= 1 ? 0 : (i * (W - L - R)) / (points.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const kids = [svg("title", {}, title)];
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    kids.push(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e6ee" }));
    kids.push(svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", "font-size": 10, fill: "#6b7386" }, opts.fmt(v)));
  }
  const step = Math.max(1, Math.ceil(points.length / 6));
  points.forEach((p, i) => { if (i % step === 0) kids.push(svg("text", { x: x(i), y: H - 6, "text-anchor": "middle", "font-size": 10, fill: "#6b7386" }, p.label.slice(5))); });
  if (opts.bars) {
    const bw = Math.max(2, (W - L - R) / Math.max(1, points.length) - 2);
    points.forEach((p, i) => { if (p.value != null) kids.push(svg("rect", { x: x(i) - bw / 2, y: y(p.value), width: bw, height: Math.max(0, H - B - y(p.value)), fill: opts.color, "data-day": p.label }, svg("title", {}, p.label + ": " + opts.fmt(p.value)))); });
  } else {
    let d = "";
    points.forEach((p, i) => { if (p.value != null) d += (d ? " L" : "M") + x(i).toFixed(1) + " " + y(p.value).toFixed(1); });
    if (d) kids.push(svg("path", { d, fill: "none", stroke: opts.color, "stroke-width": 2 }));
    points.forEach((p, i) => { if (p.value != null) kids.push(svg("circle", { cx: x(i), cy: y(p.value), r: 2.5, fill: opts.color }, svg("title", {}, p.label + ": " + opts.fmt(p.value)))); });
  }
  return h("div", { class: "card chart" }, h("h3", { text: title }), svg("svg", { id, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, width: "100%" }, kids));
}
function reasonBars(reasons) {
  const W = 560, rowH = 22, H = Math.max(1, reasons.length) * rowH + 8, L = 190;
  const max = Math.max(1, ...reasons.map((r) => r.count));
  const kids = [svg("title", {}, "Handoff reasons")];
  reasons.forEach((r, i) => {
    const w = ((W - L - 110) * r.count) / max;
    const bar = svg("g", { class: "reason", "data-reason": r.key, style: "cursor:pointer" },
      svg("text", { x: L - 6, y: i * rowH + 15, "text-anchor": "end", "font-size": 12, fill: "#1d2330" }, r.key),
      svg("rect", { x: L, y: i * rowH + 4, width: Math.max(1, w), height: rowH - 8, fill: "#2b59c3", rx: 3 }),
      svg("text", { x: L + w + 6, y: i * rowH + 15, "font-size": 12, fill: "#1d2330" }, r.count + " (" + pct(r.share) + ")"));
    bar.addEventListener("click", () => { A.filters.reason = r.key; drill("handed_off", "Handed off: " + r.key); });
    kids.push(bar);
  });
  return h("div", { class: "card chart" }, h("h3", { text: "Why conversations were handed off" }),
    reasons.length ? svg("svg", { id: "reasons-chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Handoff reasons", width: "100%" }, kids) : h("p", { class: "empty", text: "No handoffs in this range." }));
}
function tile(id, label, value, figure, hint) {
  const body = [h("div", { class: "tile-value", text: value }), h("div", { class: "tile-label", text: label })];
  if (hint) body.push(h("div", { class: "muted", text: hint }));
  return figure
    ? h("button", { class: "tile", id: "tile-" + id, title: "Show the conversations behind this figure", onclick: () => drill(figure, label) }, ...body)
    : h("div", { class: "tile", id: "tile-" + id }, ...body);
}
function analyticsView() {
  const f = A.filters;
  const sel = (id, label, options, value, on) => h("label", { class: "inline" }, label + " ",
    h("select", { id, onchange: (e) => { on(e.target.value); A.drill = null; loadAnalytics().then(render); } },
      ...options.map(([v, t]) => h("option", { value: v, selected: v === value, text: t }))));
  const controls = h("div", { class: "card filters-bar" },
    sel("an-range", "Range", [["7", "Last 7 days"], ["30", "Last 30 days"], ["90", "Last 90 days"]], A.range, (v) => { A.range = v; }),
    sel("an-queue", "Queue", [["", "All"], ...S.queues.map((q) => [q.id, q.name])], f.queue, (v) => { f.queue = v; }),
    sel("an-agent", "Agent", [["", "All"], ...S.agents.map((a) => [a.id, a.name])], f.agent, (v) => { f.agent = v; }),
    sel("an-channel", "Channel", [["", "All"], ["web", "web"], ["whatsapp", "whatsapp"], ["email", "email"], ["api", "api"]], f.channel, (v) => { f.channel = v; }),
    h("label", { class: "inline" }, "Tier ", h("input", { id: "an-tier", value: f.tier, size: 8, onchange: (e) => { f.tier = e.target.value.trim(); loadAnalytics().then(render); } })),
    f.reason ? h("button", { id: "an-clear-reason", text: "Reason: " + f.reason + " ✕", onclick: () => { f.reason = ""; A.drill = null; loadAnalytics().then(render); } }) : null,
    h("a", { id: "an-csv", href: "#", text: "Export CSV", onclick: (e) => { e.preventDefault(); download("summary"); } }),
    h("a", { href: "#", text: "Agents CSV", onclick: (e) => { e.preventDefault(); download("agents"); } }));
  if (A.error) return [controls, h("div", { class: "error", role: "alert", text: A.error })];
  if (!A.data) return [controls, h("p", { class: "muted", text: "Loading…" })];
  const s = A.data.summary;
  const tiles = h("div", { class: "tiles", id: "analytics-tiles" },
    tile("conversations", "Conversations", String(s.conversations), "conversations"),
    tile("handoff", "Handoff rate", pct(s.handoff_rate), "handed_off", s.handed_off + " handed off"),
    tile("containment", "Containment", pct(s.containment_rate), "contained", s.contained + " resolved by the bot"),
    tile("first-response", "Median first response", secs(s.median_first_response_seconds), "responded", "p90 " + secs(s.first_response.p90_seconds) + " · business hours " + secs(s.first_response_business_hours.median_seconds)),
    tile("wait", "Median queue wait", secs(s.queue_wait.median_seconds), "waited", "p90 " + secs(s.queue_wait.p90_seconds)),
    tile("abandonment", "Abandonment", pct(s.abandonment_rate), "abandoned", s.abandoned + " left while waiting"),
    tile("resolution", "Resolved after handoff", pct(s.resolution_rate), "resolved", "median " + secs(s.time_to_resolution.median_seconds) + " to resolve"),
    tile("csat", "CSAT after handoff", s.csat_after_handoff == null ? "—" : s.csat_after_handoff.toFixed(2), "csat_after_handoff", "bot only: " + (s.csat_bot_only == null ? "—" : s.csat_bot_only.toFixed(2))),
    tile("offers", "Offers declined / expired", s.offers.declined + " / " + s.offers.expired, "offer:declined", "acceptance median " + secs(s.offer_acceptance.median_seconds)),
    tile("deferred", "Deferred, waiting", String(s.deferred.waiting), "deferred_waiting", "follow-up median " + secs(s.deferred.follow_up.median_seconds)),
    tile("copilot", "Copilot drafts: sent · edited · ignored", s.copilot.sent_as_is + " · " + s.copilot.edited + " · " + s.copilot.ignored, "copilot"));
  const pts = A.data.series.points;
  const charts = h("div", { class: "charts" },
    chart("volume-chart", "Conversations per day", pts.map((p) => ({ label: p.day, value: p.conversations })), { bars: true, integer: true, color: "#7d93c9", fmt: (v) => String(Math.round(v)) }),
    chart("handoff-chart", "Handoff rate per day", pts.map((p) => ({ label: p.day, value: p.handoff_rate })), { max: 1, color: "#c0392b", fmt: (v) => Math.round(v * 100) + "%" }),
    chart("wait-chart", "Median queue wait per day", pts.map((p) => ({ label: p.day, value: p.median_wait_seconds })), { color: "#1e7b34", fmt: secs }),
    reasonBars(s.reasons));
  const arows = A.data.agents.map((a) => h("tr", { "data-agent": a.agent },
    h("td", {}, h("a", { href: "#", text: a.name || a.agent, onclick: (e) => { e.preventDefault(); A.filters.agent = a.agent; drill("conversations", "Handled by " + (a.name || a.agent)); } })),
    h("td", { text: String(a.conversations) }), h("td", { text: secs(a.handle_time.median_seconds) }), h("td", { text: secs(a.first_response.median_seconds) }),
    h("td", { text: a.csat == null ? "—" : a.csat.toFixed(2) + " (" + a.csat_responses + ")" }), h("td", { text: a.transfers_out + " out · " + a.transfers_in + " in" }), h("td", { text: String(a.closed) })));
  const agentsCard = h("div", { class: "card" }, h("h3", { text: "Agents" }), A.data.agents.length
    ? h("table", { id: "analytics-agents" }, h("thead", {}, h("tr", {}, ...["Agent", "Conversations", "Median handle time", "Median first response", "CSAT", "Transfers", "Closed"].map((t) => h("th", { text: t })))), h("tbody", {}, ...arows))
    : h("p", { class: "empty", text: "No agent handled a conversation in this range." }));
  const out = [controls, tiles, charts, agentsCard];
  if (A.drill) {
    out.push(h("div", { class: "card", id: "drill" }, h("h3", { text: A.drill.label + " — " + A.drill.total + " conversation" + (A.drill.total === 1 ? "" : "s") }),
      A.drill.items.length ? h("table", {}, h("thead", {}, h("tr", {}, ...["Conversation", "Started", "Channel", "Reason", "Tier"].map((t) => h("th", { text: t })))),
        h("tbody", {}, ...A.drill.items.map((c) => h("tr", { "data-id": c.id },
          h("td", {}, h("a", { href: "#c/" + c.id, onclick: (e) => { e.preventDefault(); openConv(c.id); }, text: c.id })),
          h("td", { text: new Date(c.started_at).toLocaleString() }), h("td", { text: c.channel }), h("td", { text: c.reason || "—" }), h("td", { text: c.tier || "—" })))))
        : h("p", { class: "empty", text: "None." })));
  }
  return out;
}
async function download(report) {
  const r = await fetch("/v1/analytics/" + report + "?" + query({ format: "csv" }), { headers: { Authorization: "Bearer " + S.token } });
  if (!r.ok) { toast("Export failed: HTTP " + r.status); return; }
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: "baton-" + report + ".csv" });
  document.body.append(a); a.click(); a.remove(); URL.revokeObjectURL(url);
}
