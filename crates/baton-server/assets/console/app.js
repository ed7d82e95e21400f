/* Baton agent console: plain JavaScript over the public API, no build step. */
"use strict";

const S = {
  token: localStorage.getItem("baton.token"),
  me: null,
  page: "inbox",
  adminTab: "agents",
  lists: { queued: [], mine: [], deferred: [], closed: [], bot: [] },
  current: null,          // open conversation id
  conv: null, messages: [], events: [], drafts: [], kbHits: [],
  filter: "", queueFilter: "",
  // Server-side search (GET /v1/conversations?q=): its results and the next page's cursor.
  search: { q: "", items: [], next: null, loading: false, error: null, seq: 0 },
  closedNext: null,
  ws: null, retry: 0,
  agents: [], queues: [],
  flash: null,
};
const app = document.getElementById("app");

// ---------- helpers ----------
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "value") e.value = v;
    // Through the CSSOM: the Content-Security-Policy forbids style attributes.
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const k of kids.flat()) if (k != null && k !== false) e.append(k.nodeType ? k : String(k));
  return e;
}
function esc(s) { return s == null ? "" : String(s); }
function ago(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}
function short(id) { return id ? id.replace(/^[a-z]+_/, "").slice(-6) : ""; }
const isSup = () => S.me && (S.me.role === "supervisor" || S.me.role === "admin");
const isAdmin = () => S.me && S.me.role === "admin";

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (S.token) headers.Authorization = "Bearer " + S.token;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let j = null;
  try { j = text ? JSON.parse(text) : null; } catch (e) { j = null; }
  if (!r.ok) {
    const err = new Error((j && j.error && j.error.message) || ("HTTP " + r.status));
    err.code = j && j.error && j.error.code; err.status = r.status;
    if (r.status === 401 && S.token && path !== "/v1/auth/login") { signOut(true); }
    throw err;
  }
  return j;
}
async function all(path) {
  let items = [], cursor = null;
  do {
    const r = await api("GET", path + (path.includes("?") ? "&" : "?") + "limit=50" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    items = items.concat(r.items); cursor = r.next_cursor;
  } while (cursor && items.length < 1000);
  return items;
}
function toast(text, actions, kind, offer) {
  const t = h("div", { class: "toast" + (kind ? " " + kind : ""), role: "status", "data-offer": offer || null }, h("span", { text }), ...(actions || []));
  document.getElementById("toasts").append(t);
  setTimeout(() => t.remove(), 8000);
}
let audio;
function beep() {
  try {
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    if (audio.state === "suspended" && audio.resume) audio.resume().catch(() => {});
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880; g.gain.value = 0.08; o.connect(g); g.connect(audio.destination);
    o.start(); o.stop(audio.currentTime + 0.18);
  } catch (e) { /* no audio */ }
}
// An alert: a toast with a sound in the page, and a system notification when the tab is in
// the background (and the agent allowed notifications).
function notify(title, body, convId, offer) {
  toast(title + (body ? ": " + body : ""), convId ? [h("button", { text: "Open", onclick: () => openConv(convId) })] : [], "alert", offer ? convId : null);
  beep();
  if (document.hidden && "Notification" in window && Notification.permission === "granted") {
    try {
      const n = new Notification(title, { body: body || "", tag: (convId || "baton") + ":" + title });
      n.onclick = () => { window.focus(); if (convId) openConv(convId); };
    } catch (e) { /* some browsers only notify from a service worker */ }
  }
}
function canAskNotifications() { return "Notification" in window && Notification.permission === "default"; }
async function askNotifications() {
  try { await Notification.requestPermission(); } catch (e) { /* refused or unsupported */ }
  render();
}
function whoOf(c) {
  if (!c) return "a customer";
  return c.customer_name || (c.customer && c.customer.name) || "Customer " + short(c.customer_id);
}
// Words for people: handoff reasons, event names, who did it.
const REASONS = {
  customer_request: "Asked for a person", human_request: "Asked for a person", talk_to_human: "Asked for a person",
  explicit_request: "Asked for a person", requested_human: "Asked for a person", customer: "Asked for a person",
  human_request_after_hours: "Asked for a person after hours",
  frustration: "Customer is frustrated", sentiment: "Customer is frustrated", negative_sentiment: "Customer is frustrated",
  low_confidence: "The bot was unsure twice in a row", low_confidence_streak: "The bot was unsure twice in a row",
  bot_fallbacks: "The bot could not answer", fallback: "The bot could not answer", bot_failure: "The bot could not answer",
  loop: "Going round in circles", bot_request: "The bot asked for a person", bot_handoff: "The bot asked for a person",
  handoff_tool: "The bot asked for a person", time_in_bot: "Too long with the bot", long_conversation: "Too long with the bot",
  max_turns: "Too long with the bot", vip: "Priority customer", agent_takeover: "An agent took over",
};
function humanize(s) { const t = String(s || "").replace(/[_-]+/g, " ").trim(); return t ? t[0].toUpperCase() + t.slice(1) : ""; }
function reasonLabel(r) {
  if (!r) return "";
  const [head, tail] = String(r).toLowerCase().split(/:(.*)/);
  if (head === "sensitive_topic") return tail ? "Sensitive topic: " + humanize(tail).toLowerCase() : "Sensitive topic";
  return REASONS[head] || humanize(r);
}
const EVENTS = {
  started: "Conversation started", message_added: "Message", reopened: "Reopened", handoff_requested: "Handoff requested",
  offered: "Offered to an agent", offer_declined: "Offer declined", offer_expired: "Offer not answered in time", assigned: "Agent joined",
  transfer_requested: "Transfer requested", transfer_cancelled: "Transfer cancelled", transferred: "Transferred", deferred: "Waiting for the team (deferred)",
  requeued: "Back in the queue", priority_changed: "Priority changed", closed: "Closed", csat_recorded: "Customer rated the conversation",
  bot_reply_held: "Bot reply held for review", bot_reply_approved: "Bot reply approved", bot_reply_rejected: "Bot reply rejected",
  draft_used: "Copilot draft used", brief_built: "Handoff brief ready", escalation_evaluated: "Escalation checked", queue_changed: "Moved to another queue",
  overflow_step: "Overflowed to another queue", queue_positions: "Place in line updated", customer_email_set: "Customer left their email",
  capacity_overridden: "Assigned over capacity", first_reply_overdue: "First reply overdue",
};
function eventLabel(t) { return EVENTS[t] || humanize(t); }
function actorLabel(a) {
  if (!a) return "";
  if (a.type === "agent") { const who = (S.agents || []).find((x) => x.id === a.id); return a.id === (S.me && S.me.id) ? "you" : who ? who.name : "an agent"; }
  return { customer: "the customer", bot: "the bot", system: "Baton", integration: "an integration", api_key: "an integration" }[a.type] || humanize(a.type).toLowerCase();
}
function reasonOf(c) { return c && c.handoff ? reasonLabel(c.handoff.reason) : ""; }
async function notifyOffer(id) {
  let c = null;
  try { c = await api("GET", "/v1/conversations/" + id); } catch (e) { /* gone already */ }
  if (c && !(c.offer && S.me && c.offer.agent === S.me.id)) return;
  const body = [whoOf(c), reasonOf(c)].filter(Boolean).join(" · ") + " — accept with A";
  notify("New conversation offered to you", body, id, true);
}

// ---------- auth ----------
function renderLogin(error) {
  const email = h("input", { id: "login-email", type: "email", autocomplete: "username", required: true });
  const pw = h("input", { id: "login-password", type: "password", autocomplete: "current-password", required: true });
  const err = h("div", { id: "login-error", class: "error", role: "alert", hidden: !error, text: error || "" });
  app.replaceChildren(h("form", { class: "login", "aria-label": "Sign in", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const r = await api("POST", "/v1/auth/login", { email: email.value, password: pw.value });
      S.token = r.token; localStorage.setItem("baton.token", r.token);
      if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
      await boot();
    } catch (x) { err.hidden = false; err.textContent = loginError(x); }
  } },
  h("h1", { text: "Baton" }), h("p", { class: "muted", text: "Sign in to the agent console" }),
  h("label", { for: "login-email", text: "Email" }), email,
  h("label", { for: "login-password", text: "Password" }), pw, err,
  h("p", {}, h("button", { id: "login-submit", class: "primary", type: "submit", text: "Sign in" }))));
  email.focus();
}
function loginError(x) {
  if (x.status === 401) return "That email and password don't match an account. Check both and try again.";
  if (x.status === 429) return "Too many attempts. Wait a minute, then try again.";
  if (x.status === 422 || x.status === 400) return "Enter your email address and password.";
  if (!x.status) return "Can't reach Baton. Check your connection and try again.";
  return "Signing in didn't work (" + x.message + "). Try again.";
}
async function signOut(expired) {
  try { if (!expired) await api("POST", "/v1/auth/logout"); } catch (e) { /* gone anyway */ }
  S.token = null; S.me = null; localStorage.removeItem("baton.token");
  if (S.ws) { S.ws.onclose = null; S.ws.close(); S.ws = null; }
  renderLogin(expired ? "Your session ended; sign in again." : null);
}

async function boot() {
  if (!S.token) return renderLogin();
  try { S.me = await api("GET", "/v1/agents/me"); } catch (e) { return; }
  connectLive();
  await refresh();
  loadSetup();
  const hash = location.hash.slice(1);
  if (hash.startsWith("c/")) await openConv(hash.slice(2));
  else if (hash === "supervisor" && isSup()) await go("supervisor");
  else if (hash === "analytics" && isSup()) await go("analytics");
  else if (hash.startsWith("admin") && isAdmin()) await go("admin");
  else render();
}

// ---------- live ----------
function connectLive() {
  if (S.ws || !S.token) return;
  const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/v1/live?token=" + encodeURIComponent(S.token));
  S.ws = ws;
  ws.onopen = () => { S.retry = 0; liveDot(true); refresh(); };
  ws.onmessage = (m) => { try { onEvent(JSON.parse(m.data)); } catch (e) { /* ignore */ } };
  ws.onclose = () => {
    S.ws = null;
    liveDot(false);
    if (S.token) setTimeout(connectLive, Math.min(10000, 500 * 2 ** S.retry++));
  };
}
function liveDot(on) {
  const d = document.getElementById("live-dot");
  if (!d) return;
  d.textContent = on ? "● live" : "○ reconnecting…";
  d.className = "live " + (on ? "on" : "off");
  d.title = on ? "Connected: offers and messages arrive as they happen" : "Not connected: trying again; lists may be out of date";
}
let refreshTimer = null;
function scheduleRefresh() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 150); }
function onEvent(e) {
  if (e.type === "lagged") return scheduleRefresh();
  if (e.type === "typing") return customerTyping(e.conversation_id, !!(e.data && e.data.typing));
  // An answered (or lapsed, or withdrawn) offer's toast has nothing left to offer.
  if (e.conversation_id && /^(assigned|offer_declined|offer_expired|closed|requeued|transferred|deferred)$/.test(e.type)) {
    document.querySelectorAll('#toasts .toast[data-offer="' + CSS.escape(e.conversation_id) + '"]').forEach((t) => t.remove());
  }
  const d = e.data || {};
  if (e.type === "offered" && S.me && d.agent === S.me.id) notifyOffer(e.conversation_id);
  // The first-reply timer's alert: write to the customer before it goes to the team.
  if (e.type === "first_reply_overdue" && S.me && d.agent === S.me.id) notify("The customer is waiting for your first reply", "No reply within " + d.after_secs + " s. Write to them now, or it will be offered to your team.", e.conversation_id);
  // Set away by the system (a missed offer, a closed connection): say so, show the new status.
  if (e.type === "agent_status_changed" && S.me && d.agent === S.me.id && d.after) {
    S.me.status = d.after.status;
    const sel = document.getElementById("status"); if (sel) sel.value = d.after.status;
    if (d.reason === "missed_offer") notify("You were set away", "An offer lapsed unanswered. Set yourself available to get offers again.", e.conversation_id);
    else if (e.actor && e.actor.type === "system") toast("Status: " + d.after.status);
  }
  if (e.type === "message_added" && d.message && d.message.role === "customer") {
    if (S.customerTyping === e.conversation_id) customerTyping(e.conversation_id, false);
    const mine = S.lists.mine.find((c) => c.id === e.conversation_id);
    if (mine && !(S.current === e.conversation_id && !document.hidden)) notify("New message from " + whoOf(mine), d.message.text.slice(0, 80), e.conversation_id);
  }
  if (e.conversation_id && e.conversation_id === S.current) loadConv(false);
  // Ownership changes move items between groups: refetch the inbox at once.
  if (/^(offered|offer_|assigned|closed|transfer|deferred|queued)/.test(e.type)) refresh();
  else scheduleRefresh();
}

// ---------- data ----------
let refreshSeq = 0;
async function refresh() {
  if (!S.me) return;
  clearTimeout(refreshTimer);
  // Overlapping refreshes: only the latest one started may write the lists.
  const seq = ++refreshSeq;
  try {
    const [queued, mine, deferred, closed, bot, assigned] = await Promise.all([
      all("/v1/conversations?state=queued"), all("/v1/conversations?state=assigned&assignee=me"),
      all("/v1/conversations?state=deferred"), api("GET", "/v1/conversations?state=closed&limit=30"),
      isSup() ? all("/v1/conversations?state=bot") : Promise.resolve([]),
      all("/v1/conversations?state=assigned"),
    ]);
    if (seq !== refreshSeq) return;
    // Transfers offered to me: another agent still owns them until I accept.
    const transfers = assigned.filter((c) => c.offer && c.offer.agent === S.me.id);
    // Closed: the newest page, plus the older pages the agent asked for ("Older").
    const newest = closed.items, last = newest.length ? newest[newest.length - 1].id : null;
    const older = S.closedMore && last ? S.lists.closed.filter((c) => c.id < last) : [];
    if (!S.closedMore) S.closedNext = closed.next_cursor;
    Object.assign(S.lists, { queued, mine, deferred, closed: newest.concat(older), bot, transfers });
    if (isSup() && S.page === "supervisor") await loadSupervisor();
  } catch (e) { return; }
  if (S.page === "inbox" || S.page === "conv") renderInbox(); else if (S.page === "supervisor") render();
}
function groups() {
  const me = S.me, q = S.lists.queued;
  const f = (list) => list.filter((c) => !S.queueFilter || c.queue === S.queueFilter);
  const offers = q.filter((c) => c.offer && c.offer.agent === me.id).concat(S.lists.transfers || []);
  // Agents are only sent their teams' conversations; supervisors see every queue and have
  // "All queued" for the rest.
  const team = q.filter((c) => !offers.includes(c) && (!isSup() || (me.queues || []).includes(c.queue)));
  const out = [
    ["offers", "Offers to me", f(offers)],
    ["mine", "Mine", f(S.lists.mine)],
    ["team", "My team's queue", f(team)],
  ];
  if (isSup()) out.push(["queued", "All queued", f(q)]);
  out.push(["deferred", "Deferred", f(S.lists.deferred)], ["closed", "Closed", f(S.lists.closed)]);
  return out;
}
function oldest(list) {
  const t = list.map((c) => c.queued_at).filter(Boolean).sort()[0];
  return t ? "oldest " + ago(t) : "";
}

// ---------- rendering ----------
function render() {
  if (!S.me) return renderLogin();
  const nav = [["inbox", "Inbox"]];
  if (isSup()) nav.push(["supervisor", "Supervisor"], ["analytics", "Analytics"]);
  if (isAdmin()) nav.push(["admin", "Admin"]);
  const status = h("select", { id: "status", "aria-label": "My status", onchange: async (e) => {
    try { S.me = await api("PUT", "/v1/agents/me/status", { status: e.target.value }); toast("Status: " + S.me.status); } catch (x) { toast(x.message); }
  } }, ...["available", "busy", "away", "offline"].map((s) => h("option", { value: s, selected: S.me.status === s, text: s })));
  const top = h("header", { class: "top" },
    h("span", { class: "brand", text: "Baton" }),
    h("nav", { "aria-label": "Main" }, ...nav.map(([p, label]) => h("button", { id: "nav-" + p, "aria-current": (S.page === p || (p === "inbox" && S.page === "conv")) ? "page" : null, text: label, onclick: () => go(p) }))),
    h("span", { id: "live-dot", class: "live " + (S.ws && S.ws.readyState === 1 ? "on" : "off"), role: "status", title: S.ws && S.ws.readyState === 1 ? "Connected: offers and messages arrive as they happen" : "Not connected yet", text: S.ws && S.ws.readyState === 1 ? "● live" : "○ connecting" }),
    canAskNotifications() ? h("button", { id: "enable-notifications", title: "Get a system notification for offers and messages while this tab is in the background", text: "Enable alerts", onclick: askNotifications }) : null,
    h("span", { id: "me-name", text: S.me.name + " (" + S.me.role + ")" }), status,
    h("button", { id: "signout", text: "Sign out", onclick: () => signOut(false) }));
  let body;
  if (S.page === "supervisor") body = h("main", { class: "content", id: "supervisor" }, supervisorView());
  else if (S.page === "analytics") body = h("main", { class: "content", id: "analytics" }, analyticsView());
  else if (S.page === "admin") body = h("main", { class: "content", id: "admin" }, adminView());
  else body = h("div", { class: "layout" + (S.page === "conv" && S.conv ? " conv-open" : "") }, h("aside", { class: "inbox", id: "inbox", "aria-label": "Inbox" }), h("main", { class: "content", id: "main" }, S.page === "conv" && S.conv ? convView() : welcome()));
  app.replaceChildren(top, body);
  if (S.page === "inbox" || S.page === "conv") renderInbox();
  const t = document.querySelector(".transcript"); if (t) t.scrollTop = t.scrollHeight;
}
// What an admin still has to set up, each with the place to fix it; looked at once per
// session (and again after a fix).
async function loadSetup() {
  if (!isAdmin()) return;
  try {
    const [queues, agents, bot, key, articles] = await Promise.all([
      api("GET", "/v1/queues").then((r) => r.items), api("GET", "/v1/agents").then((r) => r.items),
      api("GET", "/v1/bot").catch(() => null), api("GET", "/v1/widget/key").catch(() => ({})),
      api("GET", "/v1/kb/articles").then((r) => r.items).catch(() => []),
    ]);
    const missing = [];
    const active = agents.filter((a) => !a.deactivated_at && a.active !== false);
    const online = active.filter((a) => a.status === "available" || a.status === "busy");
    const works = (a, q, dflt) => (a.queues || []).includes(q) || (dflt && !(a.queues || []).some((x) => queues.some((y) => y.id === x)));
    const dflt = queues.map((q) => q.id).sort()[0];
    if (!active.some((a) => a.role === "agent" || a.role === "supervisor")) missing.push({ id: "no-agents", text: "No agents yet: nobody can take a conversation.", fix: "Add an agent", tab: "agents" });
    if (!queues.length) missing.push({ id: "no-queues", text: "No queues: every handoff waits in the built-in default queue.", fix: "Create a queue", tab: "queues" });
    for (const q of queues) {
      // Admins set things up; agents and supervisors answer.
      if (!active.some((a) => a.role !== "admin" && works(a, q.id, q.id === dflt))) missing.push({ id: "queue-unstaffed-" + q.id, text: "No agent works the queue " + q.name + ": its conversations wait for an admin.", fix: "Give an agent this queue", tab: "agents" });
    }
    if (active.length && !online.length) missing.push({ id: "nobody-online", text: "Nobody is online now: handoffs are deferred and customers are asked for their email.", fix: "Set yourself available", action: "available" });
    if (!bot || !bot.type || bot.type === "none") missing.push({ id: "no-bot", text: "No bot answers customers: every message waits for an agent or your own integration.", fix: "Turn on the knowledge-base bot", action: "kb-bot" });
    else if (bot.type === "kb" && !articles.length) missing.push({ id: "no-articles", text: "The knowledge-base bot has no articles to answer from.", fix: "Add an article", tab: "kb" });
    if (!key.public_key) missing.push({ id: "no-widget", text: "No widget on your site yet: customers cannot start a chat from a web page.", fix: "Create the widget key and copy the snippet", tab: "widget" });
    S.setup = missing;
  } catch (e) { S.setup = null; }
  if (S.page === "inbox") render();
}
async function fixSetup(item) {
  try {
    if (item.action === "kb-bot") { await api("PUT", "/v1/bot", { type: "kb" }); toast("The knowledge-base bot now answers customers"); }
    else if (item.action === "available") { S.me = await api("PUT", "/v1/agents/me/status", { status: "available" }); toast("Status: available"); }
    else { S.adminTab = item.tab; await go("admin"); return; }
  } catch (e) { toast(e.message); }
  await loadSetup(); render();
}
function setupCard() {
  if (!isAdmin() || !S.setup || !S.setup.length) return null;
  return h("div", { class: "card setup", id: "setup" }, h("h3", { text: "Still to set up" }),
    h("ul", { class: "setup-list" }, ...S.setup.map((m) => h("li", { "data-missing": m.id }, h("span", { text: m.text }), " ",
      h("button", { class: "fix", "data-fix": m.id, text: m.fix, onclick: () => fixSetup(m) })))));
}
function welcome() {
  return h("div", {}, setupCard(), welcomeCard());
}
function welcomeCard() {
  return h("div", { class: "card" }, h("h3", { text: "Welcome, " + S.me.name }),
    h("p", { text: "Pick a conversation on the left. New offers appear at the top with a countdown." }),
    h("p", { class: "muted" }, "Shortcuts: ", h("kbd", { text: "a" }), " accept offer · ", h("kbd", { text: "d" }), " decline · ", h("kbd", { text: "r" }), " reply · ",
      h("kbd", { text: "n" }), " note · ", h("kbd", { text: "c" }), " close · ", h("kbd", { text: "Ctrl+Enter" }), " send · ", h("kbd", { text: "/" }), " search · ", h("kbd", { text: "Esc" }), " back"));
}
function renderInbox() {
  const aside = document.getElementById("inbox");
  if (!aside) return;
  const focused = document.activeElement && document.activeElement.id;
  const queues = [...new Set([...S.lists.queued, ...S.lists.mine, ...S.lists.deferred].map((c) => c.queue).filter(Boolean))].sort();
  const filter = h("input", { id: "filter", type: "search", placeholder: "Search all conversations…", "aria-label": "Search conversations: words, customer name, email or id", value: S.filter, oninput: (e) => { S.filter = e.target.value; searchSoon(); } });
  const qsel = h("select", { id: "queue-filter", "aria-label": "Filter by queue", onchange: (e) => { S.queueFilter = e.target.value; renderInbox(); } },
    h("option", { value: "", text: "All queues" }), ...queues.map((q) => h("option", { value: q, selected: S.queueFilter === q, text: q })));
  const kids = [h("div", { class: "filters" }, filter, qsel)];
  if (S.search.q) {
    kids.push(searchResults());
    aside.replaceChildren(...kids);
    if (focused === "filter") { const f = document.getElementById("filter"); f.focus(); f.setSelectionRange(f.value.length, f.value.length); }
    return;
  }
  for (const [key, label, list] of groups()) {
    const items = list.map((c) => item(c, key));
    kids.push(h("section", { class: "group " + key, id: "group-" + key, "aria-label": label },
      h("h2", {}, h("span", {}, label, " ", h("span", { class: "muted", text: key === "closed" ? "" : oldest(list) })), h("span", { class: "count", "aria-label": list.length + " conversations", text: String(list.length) })),
      items.length ? items : h("div", { class: "empty", text: "Nothing here" }),
      key === "closed" && S.closedNext ? h("button", { id: "closed-more", class: "more", text: "Older closed conversations", onclick: moreClosed }) : null));
  }
  aside.replaceChildren(...kids);
  if (focused === "filter") { const f = document.getElementById("filter"); f.focus(); f.setSelectionRange(f.value.length, f.value.length); }
}
function item(c, group) {
  const who = c.customer_name || (c.customer && c.customer.name) || "Customer " + short(c.customer_id);
  const right = group === "offers" && c.offer ? h("span", { class: "countdown", "data-expires": c.offer.expires_at, text: countdown(c.offer.expires_at) })
    : h("span", { class: "badge " + c.state, text: c.state });
  return h("button", { class: "item", "data-id": c.id, "aria-current": S.current === c.id ? "true" : null, onclick: () => openConv(c.id) },
    h("div", { class: "row" }, h("span", { class: "who", text: who }), right),
    h("div", { class: "row muted" }, h("span", { text: (c.queue || "no queue") + (c.handoff ? " · " + reasonLabel(c.handoff.reason) : "") }),
      h("span", { text: c.state === "queued" ? "waiting " + ago(c.queued_at) : c.state === "closed" ? (c.resolution || "") : ago(c.updated_at) + " ago" })));
}
// Search runs on the server over everything the agent may see, a moment after typing stops.
let searchTimer = null;
function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => runSearch(false), 250);
}
async function runSearch(more) {
  const q = S.filter.trim();
  const seq = ++S.search.seq;
  if (!q) { S.search = { q: "", items: [], next: null, loading: false, error: null, seq }; renderInbox(); return; }
  if (!more) S.search = { q, items: [], next: null, loading: true, error: null, seq };
  else S.search.loading = true;
  renderInbox();
  try {
    const r = await api("GET", "/v1/conversations?limit=25&q=" + encodeURIComponent(q) + (more && S.search.next ? "&cursor=" + encodeURIComponent(S.search.next) : ""));
    if (seq !== S.search.seq) return;
    S.search.items = more ? S.search.items.concat(r.items) : r.items;
    S.search.next = r.next_cursor; S.search.loading = false;
  } catch (e) {
    if (seq !== S.search.seq) return;
    S.search.loading = false; S.search.error = e.message;
  }
  renderInbox();
}
function searchResults() {
  const sr = S.search;
  const list = sr.items.filter((c) => !S.queueFilter || c.queue === S.queueFilter);
  const count = sr.next ? list.length + "+" : String(list.length);
  return h("section", { class: "group search", id: "group-search", "aria-label": "Search results", "aria-busy": sr.loading ? "true" : null },
    h("h2", {}, h("span", { text: "Search results" }), h("span", { class: "count", "aria-label": count + " conversations found", text: count })),
    sr.error ? h("div", { class: "error", role: "alert", text: sr.error }) : null,
    ...list.map((c) => item(c, "search")),
    !list.length && !sr.loading && !sr.error ? h("div", { class: "empty", id: "search-empty", text: "No conversation matches “" + sr.q + "”. Search looks at messages, customer names, emails and ids." }) : null,
    sr.loading ? h("div", { class: "empty", text: "Searching…" }) : null,
    sr.next && !sr.loading ? h("button", { id: "search-more", class: "more", text: "More results", onclick: () => runSearch(true) }) : null);
}
async function moreClosed() {
  if (!S.closedNext) return;
  try {
    const r = await api("GET", "/v1/conversations?state=closed&limit=30&cursor=" + encodeURIComponent(S.closedNext));
    S.closedMore = true;
    const seen = new Set(S.lists.closed.map((c) => c.id));
    S.lists.closed = S.lists.closed.concat(r.items.filter((c) => !seen.has(c.id)));
    S.closedNext = r.next_cursor;
    renderInbox();
  } catch (e) { toast(e.message); }
}
function countdown(iso) { const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000)); return s + "s"; }
setInterval(() => {
  document.querySelectorAll("[data-expires]").forEach((e) => { e.textContent = countdown(e.dataset.expires); });
}, 1000);

// ---------- conversation ----------
async function openConv(id) {
  S.current = id; S.page = "conv"; S.drafts = []; S.kbHits = []; S.renderedConv = null; S.usedDraft = null;
  history.replaceState(null, "", "#c/" + id);
  await loadConv(true);
}
async function loadConv(full) {
  const id = S.current;
  try {
    const [conv, messages, events] = await Promise.all([
      api("GET", "/v1/conversations/" + id), all("/v1/conversations/" + id + "/messages"), all("/v1/conversations/" + id + "/events"),
    ]);
    if (id !== S.current) return;
    S.conv = conv; S.messages = messages; S.events = events;
    if (full || !S.history || S.history.customer !== conv.customer_id) {
      const past = await api("GET", "/v1/conversations?limit=20&customer=" + encodeURIComponent(conv.customer_id)).catch(() => ({ items: [] }));
      if (id !== S.current) return;
      S.history = { customer: conv.customer_id, items: past.items.filter((p) => p.id !== id), more: !!past.next_cursor, open: S.history && S.history.customer === conv.customer_id ? S.history.open : {} };
    }
    // Waiting and not offered to me: the live router says why (status, skill, capacity, cool-down...).
    S.whyNot = null;
    if ((conv.state === "queued" || conv.state === "deferred") && !(conv.offer && conv.offer.agent === S.me.id)) {
      S.whyNot = await api("GET", "/v1/conversations/" + id + "/routing").catch(() => null);
    }
    if (conv.state === "assigned" && conv.assignee === S.me.id && (full || !S.drafts.length)) {
      S.drafts = (await api("GET", "/v1/conversations/" + id + "/drafts").catch(() => ({ items: [] }))).items;
    }
  } catch (e) { toast(e.message); return; }
  // Inputs survive the re-render as the same nodes: typing, caret and focus are never lost.
  const keepIds = ["reply", "note", "resolution", "transfer-note", "kb-q", "kb-results"];
  // Choices in lists whose options may change: the choice is carried over, not the node.
  const keepValues = ["transfer-agent", "transfer-queue"];
  const old = {};
  const sameConv = S.renderedConv === id;
  if (sameConv) for (const k of keepIds) old[k] = document.getElementById(k);
  const chosen = {};
  if (sameConv) for (const k of keepValues) { const n = document.getElementById(k); if (n && n.value) chosen[k] = n.value; }
  const focus = document.activeElement;
  render();
  S.renderedConv = id;
  for (const k of keepIds) { const n = document.getElementById(k); if (n && old[k] && old[k] !== n) n.replaceWith(old[k]); }
  for (const k of keepValues) { const n = document.getElementById(k); if (n && chosen[k]) n.value = chosen[k]; }
  if (focus && focus.isConnected && focus !== document.body) focus.focus();
}
const val = (id) => { const e = document.getElementById(id); return e ? e.value : ""; };
async function act(label, fn) {
  try { await fn(); toast(label); await Promise.all([loadConv(true), refresh()]); }
  catch (e) { showError(e.message); }
}
function showError(msg) {
  const box = document.getElementById("conv-error");
  if (box) { box.hidden = false; box.textContent = msg; } else toast(msg);
}
function convView() {
  const c = S.conv, me = S.me;
  const cust = c.customer || {};
  const mine = c.state === "assigned" && c.assignee === me.id;
  const offeredToMe = (c.state === "queued" || c.transfer) && c.offer && c.offer.agent === me.id;
  const base = "/v1/conversations/" + c.id;
  const acts = [];
  if (offeredToMe) {
    acts.push(h("button", { id: "accept", class: "primary", "aria-keyshortcuts": "a", text: c.transfer ? "Accept transfer (A)" : "Accept (A)", onclick: () => act("Accepted", () => api("POST", base + "/accept")) }),
      h("button", { id: "decline", "aria-keyshortcuts": "d", text: "Decline (D)", onclick: () => act("Declined", () => api("POST", base + "/decline")) }),
      h("span", { class: "countdown", "data-expires": c.offer.expires_at, text: countdown(c.offer.expires_at) }));
  } else if (c.state === "queued" || c.state === "deferred") {
    acts.push(h("button", { id: "claim", class: "primary", text: "Claim", onclick: () => act("Claimed", () => api("POST", base + "/claim")) }));
  } else if (c.state === "bot") {
    acts.push(h("button", { id: "takeover", class: "primary", text: "Take over from the bot", onclick: () => act("Taken over", () => api("POST", base + "/handoff", { reason: "agent_takeover" })) }));
  }
  const header = h("div", { class: "card" },
    h("div", { class: "actions", style: "justify-content:space-between" },
      h("div", {}, h("button", { id: "back-to-inbox", class: "phone-only", "aria-label": "Back to the inbox", text: "← Inbox", onclick: () => go("inbox") }),
        h("h2", { id: "conv-title", style: "margin:0", text: cust.name || "Customer " + short(c.customer_id) }),
        h("span", { class: "muted", text: [cust.email, cust.tier && "tier " + cust.tier, cust.language, c.channel, c.queue && "queue " + c.queue].filter(Boolean).join(" · ") })),
      h("div", { class: "actions" }, h("span", { id: "conv-state", class: "badge " + c.state, text: c.state }), ...acts)),
    h("div", { id: "conv-error", class: "error", role: "alert", hidden: true }));
  const transcript = h("div", { class: "card" }, h("h3", { text: "Transcript" }),
    h("div", { class: "transcript", id: "transcript", role: "log", "aria-label": "Transcript" }, ...S.messages.map(msgView)),
    h("div", { id: "customer-typing", class: "muted typing", "aria-live": "polite", hidden: S.customerTyping !== c.id, text: whoOf(c) + " is typing…" }));
  const left = [header];
  const why = S.whyNot && S.whyNot.why_not_me;
  if (why && why.length) left.push(h("div", { class: "card", id: "why-not-me" },
    h("h3", { text: "Why it is not offered to you" }), h("ul", {}, ...why.map((w) => h("li", { text: w })))));
  if (c.transfer) left.push(transferBanner(c, base, mine));
  left.push(transcript);
  if (mine) left.push(replyBox(c, base));
  left.push(noteBox(base));
  if (mine || (isSup() && c.state === "assigned")) left.push(transferClose(c, base));
  left.push(eventsView());
  return h("div", { class: "conv", id: "conversation", "data-id": c.id }, h("div", {}, ...left), h("div", {}, customerPanel(c), briefView(c), kbBox()));
}
function msgView(m) {
  const labels = { customer: "Customer", bot: "Bot", agent: m.agent_id === S.me.id ? "You" : "Agent", note: "Internal note", system: "System" };
  return h("div", { class: "msg " + m.role + (m.attachment ? " has-attachment" : ""), "data-role": m.role, "data-id": m.id },
    h("span", { class: "meta", text: labels[m.role] + " · " + new Date(m.created_at).toLocaleTimeString() + (m.bot && m.bot.confidence != null ? " · confidence " + m.bot.confidence.toFixed(2) : "") }),
    m.attachment ? attachmentView(m.conversation_id, m.attachment) : h("span", { class: "text" }, ...linkify(m.text)));
}

// ---------- attachments ----------
// Files are fetched with the session token (never a token in the URL) and shown from memory
// as blob: URLs, once per attachment per page load.
const ATTACH_ACCEPT = "image/png,image/jpeg,image/gif,image/webp,application/pdf,.png,.jpg,.jpeg,.gif,.webp,.pdf";
const blobs = new Map();
function attachmentBlob(convId, a) {
  if (!blobs.has(a.id)) {
    const p = fetch("/v1/conversations/" + convId + "/attachments/" + a.id, { headers: { Authorization: "Bearer " + S.token } })
      .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.blob(); })
      .then((b) => URL.createObjectURL(b));
    p.catch(() => blobs.delete(a.id));
    blobs.set(a.id, p);
  }
  return blobs.get(a.id);
}
function sizeLabel(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return Math.round(n / 1024) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}
function attachmentView(convId, a) {
  const label = a.filename + " · " + sizeLabel(a.size);
  if (a.content_type.startsWith("image/")) {
    const img = h("img", { class: "attachment-thumb", alt: a.filename });
    attachmentBlob(convId, a).then((u) => { img.src = u; })
      .catch(() => img.replaceWith(h("span", { class: "muted", text: a.filename + " (could not be loaded)" })));
    return h("a", { class: "attachment image", href: "#", title: label + " — open full size", "data-attachment": a.id,
      onclick: (e) => { e.preventDefault(); attachmentBlob(convId, a).then((u) => window.open(u, "_blank", "noopener")).catch(() => showError("Could not open " + a.filename)); } },
    img, h("span", { class: "attachment-name muted", text: label }));
  }
  return h("a", { class: "attachment file", href: "#", title: "Download " + a.filename, "data-attachment": a.id,
    onclick: async (e) => {
      e.preventDefault();
      try {
        const u = await attachmentBlob(convId, a);
        const dl = h("a", { href: u, download: a.filename, hidden: true });
        document.body.append(dl); dl.click(); dl.remove();
      } catch (err) { showError("Could not download " + a.filename); }
    } },
  h("span", { class: "attachment-icon", "aria-hidden": "true", text: "PDF" }), h("span", { class: "attachment-name", text: a.filename }),
  h("span", { class: "muted", text: sizeLabel(a.size) }));
}
// Why a file was refused, in words.
function attachError(status, body, name) {
  const err = (body && body.error) || {};
  if (status === 413) {
    const limit = /(\d+) bytes/.exec(err.message || "");
    return "“" + name + "” is too large to send" + (limit ? " (the limit is " + sizeLabel(+limit[1]) + ")" : "") + ".";
  }
  if (status === 415) return "“" + name + "” cannot be sent: only images (PNG, JPEG, GIF, WebP) and PDF files can be attached.";
  if (err.code === "empty_file") return "“" + name + "” is empty.";
  if (err.code === "attachments_full") return "“" + name + "” was not sent: this conversation already holds as many files as it can.";
  return "Could not send “" + name + "”: " + (err.message || "HTTP " + status);
}
// Sends a file to the conversation; throws an Error with a message for people.
async function uploadAttachment(base, file) {
  const r = await fetch(base + "/attachments?filename=" + encodeURIComponent(file.name), {
    method: "POST", headers: { Authorization: "Bearer " + S.token, "Content-Type": file.type || "application/octet-stream" }, body: file,
  });
  if (r.ok) return r.json();
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  throw new Error(attachError(r.status, body, file.name));
}
// Text with its http(s) URLs as links that open apart from the console; nothing else is
// interpreted (no HTML, no other schemes).
function linkify(text) {
  const out = [], re = /\bhttps?:\/\/[^\s<>"']+/gi;
  let last = 0, m;
  const s = String(text || "");
  while ((m = re.exec(s))) {
    let url = m[0].replace(/[.,;:!?)\]]+$/, "");
    const safe = safeUrl(url);
    if (!safe) continue;
    out.push(s.slice(last, m.index), h("a", { href: safe, target: "_blank", rel: "noopener noreferrer nofollow", text: url }));
    last = m.index + url.length;
  }
  out.push(s.slice(last));
  return out;
}
function replyBox(c, base) {
  const ta = h("textarea", { id: "reply", rows: 3, "aria-label": "Reply to the customer", "aria-keyshortcuts": "r Control+Enter", placeholder: "Reply to the customer… (Ctrl+Enter to send)" });
  const send = async () => {
    const box = document.getElementById("reply");
    const text = box.value.trim();
    if (!text) return;
    try {
      await api("POST", base + "/messages", { text });
      const used = S.usedDraft;
      if (used) api("POST", base + "/drafts/use", { draft_id: used.id, action: used.text === text ? "sent" : "edited", text }).catch(() => {});
      box.value = ""; S.usedDraft = null; agentTyping(c.id, false); await loadConv(false);
    } catch (e) { showError(e.message); }
  };
  ta.addEventListener("keydown", (e) => {
    if (picker.handleKey(e)) return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(); }
  });
  ta.addEventListener("input", () => { picker.update(); agentTyping(c.id, !!ta.value.trim()); });
  ta.addEventListener("blur", () => setTimeout(() => picker.close(), 150));
  const drafts = S.drafts.slice(0, 3).map((d) => h("div", { class: "draft" },
    h("div", { class: "muted", text: "Draft from " + d.source + (d.title ? ": " + d.title : "") }), h("div", { text: d.text }),
    h("button", { class: "use", "data-draft": d.id, text: "Use draft", onclick: () => { const box = document.getElementById("reply"); box.value = d.text; S.usedDraft = d; box.focus(); } })));
  const picker = cannedPicker(ta, c);
  const fileInput = h("input", { type: "file", id: "attach-input", accept: ATTACH_ACCEPT, multiple: true, hidden: true, "aria-label": "Attach a file",
    onchange: async () => {
      const files = Array.from(fileInput.files || []);
      fileInput.value = "";
      const btn = document.getElementById("attach");
      if (btn) { btn.disabled = true; btn.textContent = "Sending…"; }
      let sent = 0;
      for (const file of files) {
        try { await uploadAttachment(base, file); sent++; } catch (e) { showError(e.message); }
      }
      if (btn) { btn.disabled = false; btn.textContent = "Attach file"; }
      if (sent) await loadConv(false);
    } });
  return h("div", { class: "card reply-card" }, h("h3", {}, h("label", { for: "reply", text: "Reply" })), h("div", { class: "muted", text: "Type / for canned responses" }), ta, picker.node,
    h("div", { class: "actions", style: "margin-top:6px" }, h("button", { id: "send", class: "primary", text: "Send reply", onclick: send }),
      h("button", { id: "attach", type: "button", title: "Send an image or a PDF (PNG, JPEG, GIF, WebP, PDF)", text: "Attach file", onclick: () => fileInput.click() }), fileInput),
    drafts.length ? h("div", { class: "drafts", id: "drafts" }, h("h3", { style: "margin-top:10px", text: "Copilot drafts" }), ...drafts) : null);
}
// Canned responses: the tenant's list, loaded once per session (the admin tab refreshes it).
async function cannedList() {
  if (!S.canned) S.canned = await api("GET", "/v1/canned-responses").catch(() => []);
  return S.canned;
}
// Fills {{customer.name}}-style variables as the server does for drafts.
function fillCanned(text, c) {
  const cu = (c && c.customer) || {};
  const name = (cu.name || "").trim();
  const first = (s) => (s || "").trim().split(/\s+/)[0] || "";
  const values = {
    "customer.name": name || "there", "customer.first_name": first(name) || "there", "customer.email": cu.email || "",
    "agent.name": (S.me && S.me.name) || "", "agent.first_name": first(S.me && S.me.name),
  };
  return text.replace(/\{\{\s*([a-z_.]+)\s*\}\}/g, (m, v) => (v in values ? values[v] : m))
    .replace(/\{customer_name\}/g, values["customer.first_name"]).replace(/\{agent_name\}/g, values["agent.first_name"]);
}
// "/" at the start of the reply or after a space opens the picker; what follows filters it;
// arrows choose, Enter or Tab inserts, Escape closes.
function cannedPicker(ta, c) {
  const fresh = h("div", { class: "canned-picker", id: "canned-picker", role: "listbox", "aria-label": "Canned responses", hidden: true });
  // The reply box outlives re-renders (the same node is put back), this list does not: the
  // box's handlers work on whichever list is in the page.
  const current = () => document.getElementById("canned-picker") || fresh;
  let items = [], active = 0, slash = -1;
  const query = () => {
    const upto = ta.value.slice(0, ta.selectionStart);
    const m = /(^|\s)\/([^\s/]*)$/.exec(upto);
    return m ? { at: upto.length - m[2].length - 1, text: m[2].toLowerCase() } : null;
  };
  const draw = () => {
    const node = current();
    node.replaceChildren(...(items.length ? items.map((r, i) => h("div", { class: "canned-option", role: "option", id: "canned-" + r.id, "data-id": r.id, "aria-selected": i === active ? "true" : "false",
      onmousedown: (e) => { e.preventDefault(); active = i; insert(); } }, h("strong", { text: r.title }), h("div", { class: "muted", text: fillCanned(r.text, c) })))
      : [h("div", { class: "empty", text: S.canned && S.canned.length ? "No canned response matches" : "No canned responses yet" + (isAdmin() ? " (add them in Admin → Canned responses)" : "") })]));
  };
  const close = () => { current().hidden = true; slash = -1; };
  const update = async () => {
    const q = query();
    if (!q) return close();
    const list = await cannedList();
    slash = q.at;
    items = list.filter((r) => !q.text || [r.title, r.id, ...(r.tags || [])].some((x) => x.toLowerCase().includes(q.text))).slice(0, 8);
    active = Math.min(active, Math.max(0, items.length - 1));
    current().hidden = false; draw();
  };
  const insert = () => {
    const r = items[active];
    if (!r || slash < 0) return;
    const text = fillCanned(r.text, c);
    const end = ta.selectionStart;
    ta.value = ta.value.slice(0, slash) + text + ta.value.slice(end);
    const caret = slash + text.length;
    ta.setSelectionRange(caret, caret);
    close(); ta.focus();
  };
  const handleKey = (e) => {
    if (current().hidden) return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") { e.preventDefault(); active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % Math.max(1, items.length); draw(); return true; }
    if ((e.key === "Enter" && !e.ctrlKey && !e.metaKey) || e.key === "Tab") { if (items.length) { e.preventDefault(); insert(); return true; } return false; }
    if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); close(); return true; }
    return false;
  };
  return { node: fresh, update, close, handleKey };
}
// "Customer is typing…" under the transcript while their widget says so (6 s at most without
// a new signal); and the same the other way for the customer.
let custTypingTimer = null;
function customerTyping(id, on) {
  S.customerTyping = on ? id : null;
  clearTimeout(custTypingTimer);
  if (on) custTypingTimer = setTimeout(() => customerTyping(id, false), 6000);
  const n = document.getElementById("customer-typing");
  if (n) { n.hidden = !(on && S.current === id); n.textContent = whoOf(S.conv) + " is typing…"; }
}
let myTyping = { id: null, on: false, at: 0, idle: null };
function agentTyping(id, on) {
  clearTimeout(myTyping.idle);
  const now = Date.now();
  if (on) {
    myTyping.idle = setTimeout(() => agentTyping(id, false), 4000);
    if (myTyping.on && myTyping.id === id && now - myTyping.at < 3000) return;
  } else if (!myTyping.on) return;
  myTyping = Object.assign(myTyping, { id, on, at: now });
  api("POST", "/v1/conversations/" + id + "/typing", { typing: on }).catch(() => {});
}
function noteBox(base) {
  const ta = h("textarea", { id: "note", rows: 2, "aria-label": "Internal note", "aria-keyshortcuts": "n", placeholder: "Internal note — never shown to the customer" });
  return h("div", { class: "card" }, h("h3", {}, h("label", { for: "note", text: "Internal note" })), ta,
    h("div", { class: "actions", style: "margin-top:6px" }, h("button", { id: "add-note", text: "Add note", onclick: async () => {
      try { await api("POST", base + "/notes", { text: val("note") }); document.getElementById("note").value = ""; await loadConv(false); } catch (e) { showError(e.message); }
    } })));
}
function transferBanner(c, base, mine) {
  const t = c.transfer;
  if (!S.peopleLoaded) loadPeople();
  const who = (id) => (S.agents.find((a) => a.id === id) || {}).name || short(id);
  const target = t.to_agent ? who(t.to_agent) : "queue " + t.to_queue;
  return h("div", { class: "card", id: "transfer-pending", role: "status" },
    h("strong", { text: "Transfer to " + target + " pending" }),
    h("span", { class: "muted", text: " — from " + who(t.from_agent) + " · " + ago(t.requested_at) + (c.offer ? " · offered to " + who(c.offer.agent) : " · waiting for an agent") }),
    h("p", { text: "Note: " + t.note }),
    (mine || isSup()) ? h("button", { id: "cancel-transfer", text: "Withdraw transfer", onclick: () => act("Transfer withdrawn", () => api("POST", base + "/transfer/cancel")) }) : null);
}
function transferClose(c, base) {
  const agentSel = h("select", { id: "transfer-agent", "aria-label": "Transfer to agent" }, h("option", { value: "", text: "— agent —" }), ...S.agents.filter((a) => a.id !== S.me.id).map((a) => h("option", { value: a.id, text: a.name + " (" + a.status + ")" })));
  const queueSel = h("select", { id: "transfer-queue", "aria-label": "Transfer to queue" }, h("option", { value: "", text: "— queue —" }), ...S.queues.map((q) => h("option", { value: q.id, text: q.name })));
  const tnote = h("input", { id: "transfer-note", "aria-label": "Transfer note", placeholder: "Note for the next agent" });
  const res = h("input", { id: "resolution", "aria-label": "Resolution", "aria-keyshortcuts": "c", placeholder: "resolved", value: "resolved" });
  if (!S.peopleLoaded) loadPeople();
  return h("div", { class: "card" }, h("h3", { text: "Transfer or close" }),
    h("div", { class: "actions" }, agentSel, queueSel, tnote, h("button", { id: "transfer", text: "Transfer", onclick: () => act("Transfer requested", () => api("POST", base + "/transfer", { to_agent: val("transfer-agent") || undefined, to_queue: val("transfer-queue") || undefined, note: val("transfer-note") })) })),
    h("div", { class: "actions", style: "margin-top:8px" }, h("label", { for: "resolution", text: "Resolution" }), res,
      h("button", { id: "close", class: "danger", text: "Close conversation", onclick: () => act("Closed", () => api("POST", base + "/close", { resolution: val("resolution").trim() || undefined })) })));
}
async function loadPeople() {
  S.peopleLoaded = true;
  try {
    const [agents, queues] = await Promise.all([api("GET", "/v1/agents").then((r) => r.items), api("GET", "/v1/queues").then((r) => r.items)]);
    S.agents = agents; S.queues = queues.length ? queues : (S.me.queues || []).map((q) => ({ id: q, name: q }));
    if (S.page === "conv") loadConv(false);
  } catch (e) { /* agents cannot list people: queues from their profile */ S.queues = (S.me.queues || []).map((q) => ({ id: q, name: q })); }
}
function list(items, f) { return items && items.length ? h("ul", {}, ...items.map((x) => h("li", {}, f(x)))) : h("span", { class: "muted", text: "—" }); }
function briefView(c) {
  const b = c.brief;
  if (!b) return h("div", { class: "card brief", id: "brief" }, h("h3", { text: "Handoff brief" }), h("p", { class: "muted", text: "No brief yet." }));
  const s = b.sentiment || {};
  const sent = [s.trend && "trend " + s.trend, s.current != null && "now " + Number(s.current).toFixed(2), s.lowest != null && "lowest " + Number(s.lowest).toFixed(2),
    s.frustration && (s.frustration.label || s.frustration.level || (typeof s.frustration === "string" ? s.frustration : ""))].filter(Boolean).join(" · ");
  const field = (f) => (f.label || f.name || f.kind || "field") + ": " + (f.value != null ? f.value : JSON.stringify(f));
  return h("div", { class: "card brief", id: "brief", "aria-label": "Handoff brief" }, h("h3", { text: "Handoff brief" }),
    h("dl", {},
      h("dt", { text: "Summary" }), h("dd", { id: "brief-summary", text: b.summary || "—" }),
      h("dt", { text: "Why it escalated" }), h("dd", { id: "brief-why" }, list(b.reasons, (r) => (r.reason ? reasonLabel(r.reason) : humanize(r.label || r.rule)) + (r.detail ? " — " + r.detail : "")),
        c.handoff ? h("div", { class: "muted", text: reasonLabel(c.handoff.reason) + ", requested by " + ({ customer: "the customer", bot: "the bot", agent: "an agent", rule: "a rule", api: "an integration", system: "Baton" }[c.handoff.source] || humanize(c.handoff.source).toLowerCase()) }) : null),
      h("dt", { text: "Fields" }), h("dd", {}, list(b.fields, field)),
      h("dt", { text: "Sentiment" }), h("dd", { text: sent || "—" }),
      h("dt", { text: "What the bot tried" }), h("dd", {}, list(b.bot_attempts, (a) => a.text + (a.confidence != null ? " (" + Number(a.confidence).toFixed(2) + ")" : ""))),
      h("dt", { text: "Next steps" }), h("dd", {}, list(b.next_steps, (x) => x)),
      h("dt", { text: "Articles" }), h("dd", {}, list(b.articles, (a) => a.title)),
      h("dt", { text: "Reply in" }), h("dd", { id: "brief-language", text: b.reply_language ? languageName(b.reply_language) : "—" }),
      h("dt", { text: "Suggested greeting" }), h("dd", {}, h("span", { id: "brief-greeting", text: b.greeting || (b.reply_language ? "None in " + languageName(b.reply_language) + ": write your own." : "—") }), " ",
        b.greeting && c.state === "assigned" && c.assignee === S.me.id ? h("button", { text: "Insert", onclick: () => insertReply(b.greeting) }) : null)));
}
// A language code in words ("es" → "Spanish (es)").
function languageName(code) {
  try { const n = new Intl.DisplayNames(["en"], { type: "language" }).of(code); return n && n !== code ? n + " (" + code + ")" : code; } catch (e) { return code; }
}
// Only http(s) URLs become links; anything else is shown as text.
function safeUrl(u) {
  try { const x = new URL(u); return x.protocol === "http:" || x.protocol === "https:" ? x.href : null; } catch (e) { return null; }
}
function outcomeOf(p) {
  if (p.state !== "closed") return "open · " + p.state;
  return [p.resolution ? "closed: " + humanize(p.resolution).toLowerCase() : "closed", p.csat != null ? "rated " + p.csat + "/5" : null].filter(Boolean).join(" · ");
}
// Who the customer is: profile, what the site told us, the page they are on, and their past
// conversations, each readable here without leaving this one.
function customerPanel(c) {
  const cu = c.customer || {};
  const attrs = c.attributes || {};
  const identity = attrs.identity === "verified" ? h("span", { class: "badge assigned", id: "identity-badge", title: "The site proved who this customer is (identity verification)", text: "verified" })
    : attrs.identity === "unverified" ? h("span", { class: "badge queued", id: "identity-badge", title: "The site said who this is without proof (no identity secret configured)", text: "unverified" }) : null;
  const rows = [["Email", cu.email], ["Phone", cu.phone], ["Their id", cu.external_id], ["Language", cu.language], ["Tier", cu.tier],
    ["Customer since", cu.created_at && new Date(cu.created_at).toLocaleDateString()]].filter(([, v]) => v);
  const extra = Object.entries(cu.attributes || {}).filter(([, v]) => v !== null && typeof v !== "object");
  const page = attrs.page_url && safeUrl(attrs.page_url);
  const hist = S.history && S.history.customer === c.customer_id ? S.history : { items: [], open: {} };
  const past = hist.items.map((p) => {
    const shown = hist.open[p.id];
    return h("li", { class: "past", "data-id": p.id },
      h("button", { class: "past-toggle", "aria-expanded": shown ? "true" : "false", onclick: () => togglePast(p.id) },
        h("span", { class: "badge " + p.state, text: p.state }), " ", new Date(p.created_at).toLocaleDateString() + " · " + p.channel + (p.queue ? " · " + p.queue : "")),
      h("div", { class: "muted", text: outcomeOf(p) }),
      shown ? h("div", { class: "past-transcript transcript", role: "log", "aria-label": "Past conversation" },
        ...(Array.isArray(shown) ? shown.map(msgView) : [h("div", { class: "empty", text: "Loading…" })]),
        h("button", { class: "past-open", text: "Open this conversation", onclick: () => openConv(p.id) })) : null);
  });
  return h("div", { class: "card customer", id: "customer-panel", "aria-label": "Customer" },
    h("h3", {}, cu.name || "Customer " + short(c.customer_id), " ", identity),
    rows.length ? h("dl", { class: "kv" }, ...rows.flatMap(([k, v]) => [h("dt", { text: k }), h("dd", { text: String(v) })])) : null,
    extra.length ? h("dl", { class: "kv", id: "customer-attributes" }, ...extra.flatMap(([k, v]) => [h("dt", { text: k.replace(/_/g, " ") }), h("dd", { text: String(v) })])) : null,
    attrs.page_url ? h("p", { id: "customer-page" }, h("span", { class: "muted", text: "On page " }),
      page ? h("a", { href: page, target: "_blank", rel: "noopener noreferrer", text: attrs.page_url }) : h("span", { text: attrs.page_url })) : null,
    h("h4", { text: "Past conversations (" + hist.items.length + (hist.more ? "+" : "") + ")" }),
    past.length ? h("ul", { class: "history", id: "customer-history" }, ...past) : h("p", { class: "empty", text: "This is their first conversation." }));
}
// Only the panel is drawn again: the reply box and everything typed stay as they are.
function redrawCustomer() {
  const old = document.getElementById("customer-panel");
  if (old && S.conv) old.replaceWith(customerPanel(S.conv));
}
async function togglePast(id) {
  const hist = S.history;
  if (!hist) return;
  if (hist.open[id]) { delete hist.open[id]; redrawCustomer(); return; }
  hist.open[id] = true; redrawCustomer();
  try { hist.open[id] = await all("/v1/conversations/" + id + "/messages"); }
  catch (e) { delete hist.open[id]; toast(e.message); }
  redrawCustomer();
}
function insertReply(text) {
  const ta = document.getElementById("reply");
  if (!ta) return;
  ta.value = ta.value ? ta.value + "\n" + text : text; ta.focus();
}
function kbBox() {
  const q = h("input", { id: "kb-q", type: "search", "aria-label": "Search the knowledge base", placeholder: "Search articles…" });
  const out = h("div", { id: "kb-results" }, ...S.kbHits.map((hit) => h("div", { class: "draft" }, h("strong", { text: hit.title }), h("div", { class: "muted", text: hit.snippet }),
    h("button", { text: "Insert", onclick: () => insertReply(hit.snippet) }))));
  return h("div", { class: "card" }, h("h3", {}, h("label", { for: "kb-q", text: "Knowledge base" })),
    h("form", { class: "actions", onsubmit: async (e) => {
      e.preventDefault();
      try { S.kbHits = (await api("GET", "/v1/kb/search?q=" + encodeURIComponent(val("kb-q")) + "&limit=5")).items; } catch (x) { S.kbHits = []; toast(x.message); }
      const box = document.getElementById("kb-results");
      box.replaceChildren(...(S.kbHits.length ? S.kbHits.map((hit) => h("div", { class: "draft" }, h("strong", { text: hit.title }), h("div", { class: "muted", text: hit.snippet }),
        h("button", { text: "Insert", onclick: () => insertReply(hit.snippet) }))) : [h("div", { class: "empty", text: "No articles found" })]));
    } }, q, h("button", { type: "submit", text: "Search" })), out);
}
function eventsView() {
  return h("details", { class: "card", id: "activity" }, h("summary", { text: "Activity (" + S.events.length + " events)" }),
    h("ul", { class: "events" }, ...S.events.map((e) => h("li", { "data-type": e.type }, h("span", { class: "muted", text: new Date(e.at).toLocaleTimeString() + " " }),
      h("strong", { text: eventLabel(e.type) }), e.actor ? " by " + actorLabel(e.actor) : "", e.data && e.data.reason ? " — " + reasonLabel(e.data.reason) : ""))));
}

// ---------- supervisor ----------
async function loadSupervisor() {
  const [agents, queues] = await Promise.all([api("GET", "/v1/agents").then((r) => r.items), api("GET", "/v1/queues").then((r) => r.items)]);
  S.agents = agents; S.queues = queues;
  S.assignedAll = await all("/v1/conversations?state=assigned");
}
// The risk of a bot conversation and what it is made of, largest first, in words.
function riskParts(c) {
  const e = c.escalation || {};
  const sig = e.signals || {};
  const parts = [];
  const sent = sig.sentiment != null ? Number(sig.sentiment.compound != null ? sig.sentiment.compound : sig.sentiment) : null;
  if (sent != null && !isNaN(sent) && sent < 0) parts.push([-sent * 2, "negative mood (" + sent.toFixed(2) + ")"]);
  const len = Math.min(2, (c.message_count || 0) / 10);
  if (len > 0) parts.push([len, (c.message_count || 0) + " messages so far"]);
  const unsure = Number(sig.low_confidence_streak) || 0;
  if (unsure) parts.push([unsure, unsure + (unsure === 1 ? " unsure bot reply" : " unsure bot replies in a row")]);
  return parts.sort((x, y) => y[0] - x[0]);
}
function risk(c) { return riskParts(c).reduce((a, p) => a + p[0], 0); }
function riskWhy(c) { const p = riskParts(c).slice(0, 2).map((x) => x[1]); return p.length ? p.join(", ") : "nothing worrying yet"; }
function supervisorView() {
  // A conversation without a queue waits in the default queue: the first by id.
  const dflt = S.queues.map((q) => q.id).sort()[0];
  const qOf = (c) => c.queue || dflt;
  const queued = S.lists.queued, assigned = S.assignedAll || [];
  const qrows = S.queues.map((q) => {
    const inq = queued.filter((c) => qOf(c) === q.id);
    return h("tr", { "data-queue": q.id }, h("td", { text: q.name }), h("td", { text: String(inq.length) }), h("td", { text: inq.length ? ago(inq.map((c) => c.queued_at).sort()[0]) : "—" }),
      h("td", { text: String(inq.filter((c) => c.offer).length) }), h("td", { text: String(assigned.filter((c) => qOf(c) === q.id).length) }));
  });
  const arows = S.agents.map((a) => h("tr", { "data-agent": a.id }, h("td", { text: a.name }), h("td", { text: a.role }), h("td", {}, h("span", { class: "badge", text: a.status })),
    h("td", { text: assigned.filter((c) => c.assignee === a.id).length + " / " + a.capacity })));
  const bots = S.lists.bot.slice().sort((x, y) => risk(y) - risk(x)).slice(0, 20);
  const brows = bots.map((c) => h("tr", { "data-id": c.id }, h("td", {}, h("a", { href: "#c/" + c.id, onclick: (e) => { e.preventDefault(); openConv(c.id); }, text: whoOf(c) })),
    h("td", { text: String(c.message_count) }), h("td", { text: ago(c.created_at) }), h("td", { class: "risk" }, h("strong", { text: risk(c).toFixed(1) }), h("div", { class: "muted", text: riskWhy(c) })),
    h("td", {}, h("button", { class: "takeover", text: "Take over", onclick: async () => { try { await api("POST", "/v1/conversations/" + c.id + "/handoff", { reason: "supervisor_takeover" }); await openConv(c.id); } catch (e) { toast(e.message); } } }))));
  // Conversations in progress, by customer name, each reassignable to a colleague (a transfer
  // made by the supervisor: the owner keeps it until the colleague accepts).
  const qname = (id) => (S.queues.find((q) => q.id === id) || {}).name || id || "";
  const aname = (id) => (S.agents.find((a) => a.id === id) || {}).name || "an agent";
  const live = assigned.slice().sort((x, y) => String(x.assigned_at).localeCompare(String(y.assigned_at)));
  const crows = live.map((c) => {
    const to = h("select", { class: "reassign-to", "aria-label": "Reassign " + whoOf(c) + " to" }, h("option", { value: "", text: "Reassign to…" }),
      ...S.agents.filter((a) => a.id !== c.assignee && a.active !== false && a.status !== "offline" && a.status !== "away").map((a) => h("option", { value: a.id, text: a.name + " (" + assigned.filter((x) => x.assignee === a.id).length + "/" + a.capacity + ")" })));
    return h("tr", { "data-id": c.id }, h("td", {}, h("a", { href: "#c/" + c.id, onclick: (e) => { e.preventDefault(); openConv(c.id); }, text: whoOf(c) })),
      h("td", { text: qname(qOf(c)) }), h("td", { class: "owner", text: aname(c.assignee) }), h("td", { text: ago(c.assigned_at) }),
      h("td", {}, c.transfer ? h("span", { class: "badge", text: "transfer to " + (c.transfer.to_agent ? aname(c.transfer.to_agent) : qname(c.transfer.to_queue)) + " pending" }) : h("span", { class: "actions" }, to,
        h("button", { class: "reassign", text: "Reassign", onclick: async () => {
          if (!to.value) { toast("Choose who takes it over"); return; }
          try {
            await api("POST", "/v1/conversations/" + c.id + "/transfer", { to_agent: to.value, note: "Reassigned by " + S.me.name });
            toast(whoOf(c) + " offered to " + aname(to.value));
            await loadSupervisor(); render();
          } catch (e) { toast(e.message); }
        } }))));
  });
  return [
    h("div", { class: "card" }, h("h3", { text: "Queues" }), h("table", { id: "queues-table" }, h("thead", {}, h("tr", {}, ...["Queue", "Waiting", "Oldest wait", "Offered", "Assigned"].map((t) => h("th", { text: t })))), h("tbody", {}, ...qrows))),
    h("div", { class: "card" }, h("h3", { text: "Agents" }), h("table", { id: "agents-table" }, h("thead", {}, h("tr", {}, ...["Agent", "Role", "Status", "Load"].map((t) => h("th", { text: t })))), h("tbody", {}, ...arows))),
    h("div", { class: "card" }, h("h3", { text: "With an agent" }), crows.length ? h("table", { id: "assigned-table" }, h("thead", {}, h("tr", {}, ...["Customer", "Queue", "Agent", "For", ""].map((t) => h("th", { text: t })))), h("tbody", {}, ...crows)) : h("p", { class: "empty", text: "Nobody is talking to an agent right now." })),
    h("div", { class: "card" }, h("h3", { text: "Bot conversations at risk" }), brows.length ? h("table", { id: "risk-table" }, h("thead", {}, h("tr", {}, ...["Customer", "Messages", "Age", "Risk and why", ""].map((t) => h("th", { text: t })))), h("tbody", {}, ...brows)) : h("p", { class: "empty", text: "No conversations with the bot right now." })),
  ];
}

// ---------- navigation & keys ----------
async function go(page) {
  S.page = page; S.current = null; S.conv = null;
  history.replaceState(null, "", page === "inbox" ? "#" : "#" + page + (page === "admin" ? "/" + S.adminTab : ""));
  if (page === "supervisor") { try { await loadSupervisor(); } catch (e) { toast(e.message); } }
  if (page === "analytics") { try { await loadSupervisor(); } catch (e) { toast(e.message); } await loadAnalytics(); }
  render();
}
document.addEventListener("keydown", (e) => {
  if (!S.me) return;
  const t = e.target, typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  if (e.key === "Escape") { if (typing) t.blur(); else if (S.page === "conv") go("inbox"); return; }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  const click = (id) => { const b = document.getElementById(id); if (b) { e.preventDefault(); b.click(); } };
  const focus = (id) => { const b = document.getElementById(id); if (b) { e.preventDefault(); b.focus(); } };
  if (e.key === "a") {
    if (document.getElementById("accept")) return click("accept");
    const offer = document.querySelector("#group-offers .item");
    if (offer) { e.preventDefault(); openConv(offer.dataset.id).then(() => click("accept")); }
  } else if (e.key === "d") click("decline");
  else if (e.key === "r") focus("reply");
  else if (e.key === "n") focus("note");
  else if (e.key === "c") focus("resolution");
  else if (e.key === "/") focus("filter");
});
boot();
