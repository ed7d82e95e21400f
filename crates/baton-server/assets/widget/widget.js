/* Baton customer widget. Embed with one tag:
 *   <script src="https://YOUR-BATON/widget.js" data-key="pk_..." async></script>
 * Plain JavaScript, no dependencies. The public key only starts conversations; each
 * conversation gets its own customer token (kept in localStorage so a reload resumes it). */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-key]');
  if (!script || window.__batonWidget) return;
  window.__batonWidget = true;
  var KEY = script.getAttribute("data-key") || "";
  var BASE = new URL(script.src, location.href).origin;
  var TITLE = script.getAttribute("data-title") || "Chat with us";
  var STORE = "baton.widget." + KEY;

  var st = { conv: null, token: null, msgs: {}, order: [], agentName: null, ws: null,
    retry: 0, open: false, csatSent: false, lastState: null, joined: false };

  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  }
  function save() {
    if (st.conv && st.token) localStorage.setItem(STORE, JSON.stringify({ conversation_id: st.conv.id, token: st.token }));
  }
  function forget() { localStorage.removeItem(STORE); st.conv = null; st.token = null; st.msgs = {}; st.order = []; form = null; }

  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  var css = [
    "#baton-w-launch{position:fixed;right:20px;bottom:20px;z-index:2147483000;background:#2b59c3;color:#fff;border:0;border-radius:24px;padding:12px 20px;font:600 15px system-ui,sans-serif;box-shadow:0 4px 14px rgba(0,0,0,.25);cursor:pointer}",
    "#baton-w-panel{position:fixed;right:20px;bottom:80px;z-index:2147483000;width:360px;max-width:calc(100vw - 40px);height:520px;max-height:calc(100vh - 100px);background:#fff;color:#1d2330;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;font:14px/1.4 system-ui,sans-serif;overflow:hidden}",
    "#baton-w-panel[hidden]{display:none}",
    "#baton-w-head{background:#2b59c3;color:#fff;padding:10px 14px;display:flex;align-items:center;justify-content:space-between}",
    "#baton-w-head h2{font-size:16px;margin:0}",
    "#baton-w-head button{background:transparent;color:#fff;border:0;font-size:20px;cursor:pointer}",
    "#baton-w-status{padding:6px 14px;background:#eef2fb;font-size:13px;min-height:18px}",
    "#baton-w-log{flex:1;overflow-y:auto;padding:10px 12px;display:flex;flex-direction:column;gap:6px}",
    ".baton-w-msg{max-width:80%;padding:7px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".baton-w-msg .who{display:block;font-size:11px;font-weight:600;opacity:.75;margin-bottom:2px}",
    ".baton-w-customer{align-self:flex-end;background:#2b59c3;color:#fff}",
    ".baton-w-bot{align-self:flex-start;background:#f0f1f4}",
    ".baton-w-agent{align-self:flex-start;background:#e3f4e8;border:1px solid #b5dfc1}",
    ".baton-w-system,.baton-w-notice{align-self:center;background:transparent;color:#5a6275;font-size:12px;text-align:center}",
    "#baton-w-human:disabled{opacity:.6;cursor:default}",
    "#baton-w-human{margin:6px 12px 0;background:#fff;border:1px solid #2b59c3;color:#2b59c3;border-radius:16px;padding:6px 10px;cursor:pointer;font:600 13px system-ui,sans-serif}",
    "#baton-w-form{display:flex;gap:6px;padding:8px 12px;border-top:1px solid #e3e5ea}",
    "#baton-w-input{flex:1;resize:none;border:1px solid #c9cdd6;border-radius:8px;padding:6px 8px;font:inherit;height:38px}",
    "#baton-w-send{background:#2b59c3;color:#fff;border:0;border-radius:8px;padding:0 14px;cursor:pointer;font-weight:600}",
    "#baton-w-extra{padding:0 12px}",
    ".baton-w-card{border:1px solid #d6dae3;border-radius:8px;padding:8px;margin:6px 0;background:#fafbfd}",
    ".baton-w-stars button{font-size:16px;margin:2px;padding:4px 9px;border-radius:6px;border:1px solid #c9cdd6;background:#fff;cursor:pointer}",
    ".baton-w-card input{border:1px solid #c9cdd6;border-radius:6px;padding:6px;flex:1;min-width:0;font:inherit}",
    ".baton-w-card label{display:block;margin-bottom:6px}",
    ".baton-w-row{display:flex;gap:6px}",
    ".baton-w-row button{background:#2b59c3;color:#fff;border:0;border-radius:6px;padding:0 14px;cursor:pointer;font-weight:600}",
    ".baton-w-row button:disabled{opacity:.6;cursor:default}",
    ".baton-w-ok{background:#e7f6ea;border-color:#bfe3c7;color:#1e5b2c;overflow-wrap:anywhere}",
    ".baton-w-err{color:#b3261e;font-size:12px;margin-top:4px}",
    "#baton-w-panel [hidden]{display:none}"
  ].join("\n");

  var launch, panel, log, status, input, extra, human;
  function build() {
    document.head.appendChild(el("style", { text: css }));
    launch = el("button", { id: "baton-w-launch", type: "button", "aria-label": "Open chat", "aria-expanded": "false", text: TITLE, onclick: toggle });
    log = el("div", { id: "baton-w-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    status = el("div", { id: "baton-w-status", role: "status" });
    input = el("textarea", { id: "baton-w-input", "aria-label": "Type your message", placeholder: "Type your message…", rows: "1" });
    input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); } });
    human = el("button", { id: "baton-w-human", type: "button", text: "Talk to a person", onclick: talkToHuman });
    extra = el("div", { id: "baton-w-extra" });
    panel = el("section", { id: "baton-w-panel", hidden: "", "aria-label": "Chat" }, [
      el("div", { id: "baton-w-head" }, [el("h2", { text: TITLE }), el("button", { type: "button", "aria-label": "Close chat", text: "×", onclick: toggle })]),
      status, log, extra, human,
      el("form", { id: "baton-w-form", onsubmit: function (e) { e.preventDefault(); submit(); } }, [
        input, el("button", { id: "baton-w-send", type: "submit", text: "Send" })])
    ]);
    document.body.appendChild(panel);
    document.body.appendChild(launch);
  }

  function toggle() {
    st.open = !st.open;
    panel.hidden = !st.open;
    launch.setAttribute("aria-expanded", String(st.open));
    if (st.open) { input.focus(); scroll(); }
  }

  function api(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (st.token) headers.Authorization = "Bearer " + st.token;
    return fetch(BASE + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.text().then(function (t) {
          var j = t ? JSON.parse(t) : null;
          if (!r.ok) { var e = new Error((j && j.error && j.error.message) || ("HTTP " + r.status)); e.status = r.status; throw e; }
          return j;
        });
      });
  }

  function ensureConversation() {
    if (st.conv) return Promise.resolve(st.conv);
    return api("POST", "/v1/widget/conversations", { public_key: KEY, customer: { language: (navigator.language || "en").slice(0, 16) }, page_url: location.href.slice(0, 2000) })
      .then(function (r) { st.conv = r.conversation; st.token = r.token; save(); connect(); render(); return st.conv; });
  }

  function uid() { return "w-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10); }

  function send(text, payload) {
    var body = { text: text, external_id: uid() };
    if (payload) body.payload = payload;
    var attempt = function (n) {
      return ensureConversation().then(function () {
        return api("POST", "/v1/conversations/" + st.conv.id + "/messages", body);
      }).then(function (r) { addMessage(r.message); setConv(r.conversation); }, function (e) {
        // Same external_id on retry: the server stores it once.
        if (n < 3 && (!e.status || e.status >= 500)) return new Promise(function (ok) { setTimeout(ok, 800 * (n + 1)); }).then(function () { return attempt(n + 1); });
        notice("Could not send: " + e.message, true);
      });
    };
    return attempt(0);
  }

  function submit() {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  }
  function talkToHuman() { send("Talk to a person", "talk_to_human"); }

  function addMessage(m) {
    if (!m || !m.id || m.role === "note") return false;
    var known = st.msgs[m.id];
    st.msgs[m.id] = Object.assign({}, known || {}, m);
    if (!known) { st.order.push(m.id); }
    render();
    return !known;
  }

  function setConv(c) {
    if (!c) return;
    var before = st.lastState;
    st.conv = Object.assign(st.conv || {}, c);
    st.lastState = c.state;
    if (before && before !== "closed" && c.state === "closed") st.csatSent = false;
    render();
  }

  var noticeN = 0;
  function notice(text, err) {
    var id = "n:" + (noticeN++);
    st.msgs[id] = { id: id, role: "notice", text: text, err: !!err };
    st.order.push(id);
    render();
  }

  function refetch() {
    if (!st.conv || !st.token) return Promise.resolve();
    var id = st.conv.id;
    var all = [];
    var page = function (cursor) {
      return api("GET", "/v1/conversations/" + id + "/messages?limit=200" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "")).then(function (r) {
        all = all.concat(r.items);
        return r.next_cursor ? page(r.next_cursor) : all;
      });
    };
    return Promise.all([api("GET", "/v1/conversations/" + id), page(null)]).then(function (res) {
      setConv(res[0]);
      res[1].forEach(addMessage);
    }).catch(function (e) {
      if (e.status === 401 || e.status === 403 || e.status === 404) { forget(); render(); }
    });
  }

  function connect() {
    if (!st.token || st.ws) return;
    var url = BASE.replace(/^http/, "ws") + "/v1/widget/live?token=" + encodeURIComponent(st.token);
    var ws = new WebSocket(url);
    st.ws = ws;
    ws.onopen = function () { st.retry = 0; };
    ws.onmessage = function (ev) {
      var e; try { e = JSON.parse(ev.data); } catch (x) { return; }
      if (e.type === "hello") {
        st.agentName = e.agent_name || st.agentName;
        setConv(e.conversation);
        refetch().then(function () {
          if (st.conv && st.conv.state === "assigned" && st.agentName && !st.joined) { st.joined = true; notice(st.agentName + " joined the chat"); }
        });
        return;
      }
      if (e.type === "lagged") { refetch(); return; }
      var d = e.data || {};
      if (e.type === "message_added" && d.message) {
        if (d.message.role === "agent" && d.message.agent_name) st.agentName = d.message.agent_name;
        addMessage(d.message);
      } else if (e.type === "assigned") {
        st.agentName = d.agent_name || "An agent";
        st.joined = true;
        notice(st.agentName + " joined the chat");
        refetch();
      } else if (e.type === "queue_positions") {
        st.conv.position = d.position; st.conv.estimated_wait_secs = d.estimated_wait_secs; render();
      } else { refetch(); }
    };
    ws.onclose = function () {
      st.ws = null;
      if (!st.token) return;
      var delay = Math.min(10000, 500 * Math.pow(2, st.retry++));
      setTimeout(function () { connect(); }, delay);
    };
  }

  function statusText() {
    var c = st.conv;
    if (!c) return "Ask us anything — a person is one click away.";
    switch (c.state) {
      case "bot": return "You're chatting with our assistant.";
      case "queued":
        if (c.position) return "Connecting you to a person… you are number " + c.position + " in line" +
          (c.estimated_wait_secs != null ? " (about " + Math.max(1, Math.round(c.estimated_wait_secs / 60)) + " min)" : "") + ".";
        return "Connecting you to a person…";
      case "assigned": return "You're chatting with " + (st.agentName || "an agent") + ".";
      case "deferred":
        var away = "Our team is away right now.";
        if (c.back_at) {
          var back = new Date(c.back_at);
          if (!isNaN(back.getTime())) away = "Our team is away right now and back " +
            back.toLocaleString([], { weekday: "short", hour: "numeric", minute: "2-digit" }) + ".";
        }
        return away + (c.customer && c.customer.email ? " We'll follow up by email." :
          " Leave your email and we'll follow up.");
      case "closed": return "This conversation is closed. Write again to reopen it.";
    }
    return "";
  }

  function render() {
    if (!log) return;
    status.textContent = statusText();
    var atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.textContent = "";
    st.order.forEach(function (id) {
      var m = st.msgs[id];
      if (m.role === "notice") {
        log.appendChild(el("div", { "class": "baton-w-notice" + (m.err ? " baton-w-err" : ""), role: m.err ? "alert" : null, text: m.text }));
        return;
      }
      var who = m.role === "customer" ? "You" : m.role === "bot" ? "Assistant" :
        m.role === "agent" ? (m.agent_name || st.agentName || "Agent") : "";
      var node = el("div", { "class": "baton-w-msg baton-w-" + m.role, "data-id": m.id, "data-role": m.role }, [
        who ? el("span", { "class": "who", text: who }) : null, el("span", { "class": "text", text: m.text })]);
      log.appendChild(node);
    });
    var c = st.conv;
    // Always visible; while a person is coming or here it has nothing more to do.
    var withPerson = !!(c && (c.state === "queued" || c.state === "assigned" || c.state === "deferred"));
    human.disabled = withPerson;
    human.textContent = c && c.state === "assigned" ? "You're talking to a person" : c && c.state === "queued" ? "A person is on the way" :
      c && c.state === "deferred" ? "A person will follow up" : "Talk to a person";
    var focused = document.activeElement;
    extra.textContent = "";
    if (c && c.state === "closed") {
      extra.appendChild(el("div", { "class": "baton-w-card", id: "baton-w-closed", text: "Thanks for chatting with us — this conversation is now closed." }));
      if (c.csat == null && !st.csatSent) {
        var stars = el("div", { "class": "baton-w-stars", role: "group", "aria-label": "Rate this conversation from 1 to 5" });
        [1, 2, 3, 4, 5].forEach(function (n) {
          stars.appendChild(el("button", { type: "button", "data-score": String(n), "aria-label": "Rate " + n + " out of 5", text: "★ " + n, onclick: function () { rate(n); } }));
        });
        extra.appendChild(el("div", { "class": "baton-w-card", id: "baton-w-csat" }, [el("div", { text: "How did we do?" }), stars]));
      } else {
        extra.appendChild(el("div", { "class": "baton-w-card", id: "baton-w-thanks", text: "Thank you for your rating!" }));
      }
    }
    var known = c && c.customer && c.customer.email;
    if (c && c.state === "deferred" && known) {
      extra.appendChild(el("div", { "class": "baton-w-card baton-w-ok", id: "baton-w-email-ok", role: "status" }, [
        el("strong", { text: "Thanks! " }), el("span", { text: "We'll follow up by email at " }), el("strong", { "class": "baton-w-addr", text: known }), el("span", { text: "." })]));
    } else if (c && c.state === "deferred") {
      extra.appendChild(emailForm());
      if (focused && form.contains(focused) && document.activeElement !== focused) focused.focus();
    }
    if (atBottom || st.order.length) scroll();
  }
  function scroll() { if (log) log.scrollTop = log.scrollHeight; }

  // The deferred conversation's "leave your email" form: the address goes to the customer's
  // profile (POST .../contact); the server's answer to a bad one is shown in the form. The form
  // is built once and kept across renders, so typing is never lost.
  var form;
  function emailForm() {
    if (form) return form;
    var email = el("input", { type: "email", id: "baton-w-email", "aria-label": "Your email", autocomplete: "email", placeholder: "you@example.com", required: "" });
    var err = el("div", { "class": "baton-w-err", id: "baton-w-email-error", role: "alert", hidden: "" });
    var button = el("button", { type: "submit", id: "baton-w-email-send", text: "Send" });
    form = el("form", { "class": "baton-w-card", id: "baton-w-email-form", novalidate: "", onsubmit: function (e) {
      e.preventDefault();
      var v = email.value.trim();
      if (!v) { err.textContent = "Please enter your email address."; err.hidden = false; email.focus(); return; }
      button.disabled = true; err.hidden = true;
      api("POST", "/v1/conversations/" + st.conv.id + "/contact", { email: v }).then(function (c) {
        form = null; setConv(c);
      }, function (x) {
        button.disabled = false;
        err.textContent = x.message; err.hidden = false;
        email.setAttribute("aria-invalid", "true"); email.focus();
      });
    } }, [el("label", { "for": "baton-w-email", text: "Leave your email and we'll get back to you:" }),
      el("div", { "class": "baton-w-row" }, [email, button]), err]);
    return form;
  }

  function rate(n) {
    st.csatSent = true;
    api("POST", "/v1/conversations/" + st.conv.id + "/csat", { score: n }).then(setConv, function (e) { st.csatSent = false; notice(e.message, true); });
    render();
  }

  function start() {
    build();
    var s = saved();
    if (s && s.token && s.conversation_id) {
      st.token = s.token; st.conv = { id: s.conversation_id };
      refetch().then(function () { if (st.token) connect(); });
    }
    render();
    if (/[?&]baton_open=1/.test(location.search) || (s && s.token)) { if (!st.open) toggle(); }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
})();
