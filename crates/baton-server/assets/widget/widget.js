/* Baton customer widget. Embed with one tag:
 *   <script src="https://YOUR-BATON/widget.js" data-key="pk_..." async></script>
 * Plain JavaScript, no dependencies. The public key only starts conversations; each
 * conversation gets its own customer token (kept in localStorage so a reload resumes it).
 *
 * Who the customer is: data-external-id, data-identity-hash, data-name, data-email on the tag,
 * or from script: Baton("identify", {...}) before the widget loads (queued) or
 * Baton.identify({external_id, identity_hash, name, email, ...attributes}) after. Also
 * Baton.open(), Baton.close(), Baton.reset() (logout: forget this browser's conversation) and
 * Baton.on(event, fn) with events ready, open, close, conversation, message, state, error.
 * identity_hash is the hex HMAC-SHA256 of external_id with the widget identity secret,
 * computed by the site's server; see docs/channels-widget.md. */
(function () {
  "use strict";
  var script = document.currentScript ||
    document.querySelector('script[src*="widget.js"][data-key]');
  if (!script || window.__batonWidget) return;
  window.__batonWidget = true;
  var KEY = script.getAttribute("data-key") || "";
  var BASE = new URL(script.src, location.href).origin;
  var TITLE = script.getAttribute("data-title") || "Chat with us";
  // Looks: data-color (a CSS colour), data-position (right or left), data-launcher-text,
  // data-greeting (shown before the first message).
  var COLOR = (function (c) {
    if (!c) return "#2b59c3";
    var probe = document.createElement("span");
    probe.style.color = c;
    return probe.style.color ? c : "#2b59c3";
  })(script.getAttribute("data-color"));
  var LEFT = script.getAttribute("data-position") === "left";
  var LAUNCHER = script.getAttribute("data-launcher-text") || TITLE;
  var GREETING = script.getAttribute("data-greeting") || "";
  var STORE = "baton.widget." + KEY;
  var KNOWN = ["external_id", "identity_hash", "name", "email", "phone", "language"];
  // Who the site says the customer is; sent when a conversation starts.
  var who = {};
  KNOWN.forEach(function (k) {
    var v = script.getAttribute("data-" + k.replace(/_/g, "-"));
    if (v) who[k] = v;
  });
  var listeners = {};
  function emit(name, detail) {
    (listeners[name] || []).slice().forEach(function (fn) { try { fn(detail); } catch (e) { setTimeout(function () { throw e; }); } });
  }

  var st = { conv: null, token: null, msgs: {}, order: [], agentName: null, ws: null,
    retry: 0, open: false, csatSent: false, lastState: null, joined: false };

  function saved() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  }
  function save() {
    if (st.conv && st.token) localStorage.setItem(STORE, JSON.stringify({ conversation_id: st.conv.id, token: st.token, external_id: who.external_id || null }));
  }
  function forget() {
    localStorage.removeItem(STORE); st.conv = null; st.token = null; st.msgs = {}; st.order = []; form = null;
    st.agentName = null; st.joined = false; st.lastState = null;
    if (st.ws) { var ws = st.ws; st.ws = null; ws.onclose = null; ws.close(); }
  }

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
    "#baton-w-attach{background:#fff;color:#2b59c3;border:1px solid #c9cdd6;border-radius:8px;padding:0 10px;cursor:pointer;font:600 13px system-ui,sans-serif}",
    "#baton-w-attach:disabled{opacity:.6;cursor:default}",
    ".baton-w-file{display:inline-flex;flex-direction:column;gap:3px;color:inherit;text-decoration:none}",
    ".baton-w-file img{display:block;max-width:220px;max-height:160px;min-width:40px;min-height:40px;border-radius:6px;background:#fff;object-fit:contain}",
    ".baton-w-file .baton-w-fname{font-size:12px;opacity:.85}",
    ".baton-w-pdf{flex-direction:row;align-items:center;gap:6px}",
    ".baton-w-pdf .baton-w-ficon{font-size:10px;font-weight:700;color:#fff;background:#c0392b;border-radius:4px;padding:3px 5px}",
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
    "#baton-w-panel [hidden]{display:none}",
    "#baton-w-badge{position:absolute;top:-6px;right:-6px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#d93025;color:#fff;font:700 12px/20px system-ui,sans-serif;text-align:center}",
    "#baton-w-badge[hidden]{display:none}",
    ".baton-w-msg a{color:inherit;text-decoration:underline}",
    ".baton-w-greeting{align-self:flex-start;background:#f0f1f4;max-width:80%;padding:7px 10px;border-radius:10px}",
    ".baton-w-card textarea{width:100%;box-sizing:border-box;border:1px solid #c9cdd6;border-radius:6px;padding:6px;font:inherit;margin:6px 0}"
  ].join("\n").replace(/#2b59c3/g, COLOR).replace(/right:20px/g, LEFT ? "left:20px" : "right:20px");

  var launch, panel, log, status, input, extra, human, badge, fileInput, attachB;
  var unread = 0, typingNote;
  // The agent sees "customer is typing": said at most every 3 s while typing, and "stopped"
  // after 4 s without a key or when the message is sent.
  var typingSent = 0, typingIdle = null, typingOn = false;
  function typing(on) {
    if (!st.conv || !st.token || !st.conv.state || st.conv.state !== "assigned") return;
    clearTimeout(typingIdle);
    var now = Date.now();
    if (on) {
      typingIdle = setTimeout(function () { typing(false); }, 4000);
      if (typingOn && now - typingSent < 3000) return;
    } else if (!typingOn) return;
    typingOn = on; typingSent = now;
    api("POST", "/v1/conversations/" + st.conv.id + "/typing", { typing: on }).catch(function () {});
  }
  var agentTypingTimer = null;
  function showAgentTyping(on, name) {
    if (!typingNote) return;
    clearTimeout(agentTypingTimer);
    typingNote.textContent = on ? (name || st.agentName || "The agent") + " is typing…" : "";
    typingNote.hidden = !on;
    if (on) agentTypingTimer = setTimeout(function () { showAgentTyping(false); }, 6000);
  }
  function setUnread(n) {
    unread = n;
    if (!badge) return;
    badge.textContent = n > 9 ? "9+" : String(n);
    badge.hidden = n === 0;
    launch.setAttribute("aria-label", n ? "Open chat (" + n + " unread)" : "Open chat");
  }
  function build() {
    document.head.appendChild(el("style", { text: css }));
    badge = el("span", { id: "baton-w-badge", hidden: "", "aria-hidden": "true" });
    launch = el("button", { id: "baton-w-launch", type: "button", "aria-label": "Open chat", "aria-expanded": "false", onclick: toggle }, [document.createTextNode(LAUNCHER), badge]);
    log = el("div", { id: "baton-w-log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    status = el("div", { id: "baton-w-status", role: "status" });
    input = el("textarea", { id: "baton-w-input", "aria-label": "Type your message", placeholder: "Type your message…", rows: "1" });
    input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); } });
    input.addEventListener("input", function () { typing(!!input.value.trim()); });
    input.addEventListener("blur", function () { typing(false); });
    typingNote = el("div", { id: "baton-w-typing", "class": "baton-w-notice", "aria-live": "polite", hidden: "" });
    human = el("button", { id: "baton-w-human", type: "button", text: "Talk to a person", onclick: talkToHuman });
    extra = el("div", { id: "baton-w-extra" });
    fileInput = el("input", { type: "file", id: "baton-w-file", accept: "image/png,image/jpeg,image/gif,image/webp,application/pdf,.png,.jpg,.jpeg,.gif,.webp,.pdf", hidden: "", "aria-label": "Choose a file to send", onchange: function () {
      var files = [].slice.call(fileInput.files || []);
      fileInput.value = "";
      files.reduce(function (p, f) { return p.then(function () { return sendFile(f); }); }, Promise.resolve());
    } });
    attachB = el("button", { id: "baton-w-attach", type: "button", title: "Send a photo or a PDF", "aria-label": "Attach a photo or a PDF", onclick: function () { fileInput.click(); } });
    attachB.appendChild(clip());
    panel = el("section", { id: "baton-w-panel", hidden: "", "aria-label": "Chat" }, [
      el("div", { id: "baton-w-head" }, [el("h2", { text: TITLE }), el("button", { type: "button", "aria-label": "Close chat", text: "×", onclick: toggle })]),
      status, log, typingNote, extra, human,
      el("form", { id: "baton-w-form", onsubmit: function (e) { e.preventDefault(); submit(); } }, [
        attachB, fileInput, input, el("button", { id: "baton-w-send", type: "submit", text: "Send" })])
    ]);
    document.body.appendChild(panel);
    document.body.appendChild(launch);
  }

  // A paperclip (SVG: no emoji font needed).
  function clip() {
    var ns = "http://www.w3.org/2000/svg", svg = document.createElementNS(ns, "svg"), path = document.createElementNS(ns, "path");
    svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "18"); svg.setAttribute("height", "18"); svg.setAttribute("aria-hidden", "true");
    path.setAttribute("d", "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5");
    path.setAttribute("fill", "none"); path.setAttribute("stroke", "currentColor"); path.setAttribute("stroke-width", "1.8"); path.setAttribute("stroke-linecap", "round");
    svg.appendChild(path);
    return svg;
  }
  function toggle() {
    st.open = !st.open;
    panel.hidden = !st.open;
    launch.setAttribute("aria-expanded", String(st.open));
    if (st.open) { input.focus(); scroll(); setUnread(0); }
    emit(st.open ? "open" : "close", {});
  }

  function api(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (st.token) headers.Authorization = "Bearer " + st.token;
    return fetch(BASE + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined })
      .then(function (r) {
        return r.text().then(function (t) {
          var j = t ? JSON.parse(t) : null;
          if (!r.ok) {
            var e = new Error((j && j.error && j.error.message) || ("HTTP " + r.status));
            e.status = r.status; e.code = j && j.error && j.error.code; throw e;
          }
          return j;
        });
      });
  }

  // The customer as the start and resume requests carry it: the known fields, the rest as
  // attributes.
  function customerBody() {
    var c = { attributes: {} };
    for (var k in who) {
      if (who[k] == null || who[k] === "") continue;
      if (KNOWN.indexOf(k) >= 0) c[k] = String(who[k]); else c.attributes[k] = who[k];
    }
    if (!c.language) c.language = (navigator.language || "en").slice(0, 16);
    return c;
  }
  function opened(r) {
    st.conv = r.conversation; st.token = r.token; save(); connect(); render();
    emit("conversation", { id: r.conversation.id, resumed: !!r.resumed, identity: r.identity });
    return st.conv;
  }
  function ensureConversation() {
    if (st.conv) return Promise.resolve(st.conv);
    return api("POST", "/v1/widget/conversations", { public_key: KEY, customer: customerBody(), page_url: location.href.slice(0, 2000) })
      .then(function (r) { opened(r); if (r.resumed) refetch(); return st.conv; });
  }
  // A verified customer's open conversation follows them to this browser.
  function resume() {
    if (st.conv || !who.external_id || !who.identity_hash) return Promise.resolve();
    return api("POST", "/v1/widget/resume", { public_key: KEY, customer: customerBody(), page_url: location.href.slice(0, 2000) })
      .then(function (r) { opened(r); return refetch(); }, function (e) {
        if (e.status !== 404) { emit("error", { code: e.code, message: e.message }); }
      });
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
        emit("error", { code: e.code, message: e.message });
        throw e;
      });
    };
    return attempt(0);
  }

  // What went wrong, in words for the customer (the server's messages are for developers).
  function humanError(e) {
    if (e.code === "identity_not_verified") return "We couldn't confirm who you are. Please reload the page, or sign in again, and retry.";
    if (e.code === "invalid_public_key") return "Chat isn't set up correctly on this site right now, so your message wasn't sent. Please try again later or contact us another way.";
    if (e.status === 429) return "You've started several chats in a short time. Please wait a minute and send again.";
    if (e.status === 413) return "That message is too long. Please shorten it and send again.";
    if (e.status === 422) return "That message couldn't be sent: " + e.message;
    if (e.status === 401 || e.status === 403 || e.status === 404) return "This chat has ended on our side. Send again to start a new one.";
    if (!e.status || e.status >= 500) return "We couldn't reach our team. Check your connection and send again.";
    return "Your message wasn't sent. Please try again.";
  }
  function submit() {
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    typing(false);
    send(text).catch(function (e) {
      // The typed text comes back so nothing is lost.
      if (!input.value) input.value = text;
      if (e.status === 401 || e.status === 403 || e.status === 404) { if (e.code !== "identity_not_verified" && e.code !== "invalid_public_key") forget(); }
      notice(humanError(e), true);
      input.focus();
    });
  }
  // Files: sent raw with the customer token, shown from memory (blob: URLs) once fetched with
  // the token (a token never goes in a URL).
  function sizeLabel(n) {
    if (n < 1024) return n + " B";
    if (n < 1048576) return Math.round(n / 1024) + " KB";
    return (n / 1048576).toFixed(1) + " MB";
  }
  function fileError(status, body, name) {
    var err = (body && body.error) || {};
    if (status === 413) {
      var limit = /(\d+) bytes/.exec(err.message || "");
      return "\u201c" + name + "\u201d is too large to send" + (limit ? " (the limit is " + sizeLabel(+limit[1]) + ")" : "") + ".";
    }
    if (status === 415) return "\u201c" + name + "\u201d can't be sent: only photos (PNG, JPEG, GIF, WebP) and PDF files can be attached.";
    if (err.code === "empty_file") return "\u201c" + name + "\u201d is empty.";
    if (err.code === "attachments_full") return "\u201c" + name + "\u201d wasn't sent: this chat already holds as many files as it can.";
    if (status === 401 || status === 403 || status === 404) return "This chat has ended on our side. Send a message to start a new one.";
    if (!status || status >= 500) return "We couldn't send \u201c" + name + "\u201d. Check your connection and try again.";
    return "\u201c" + name + "\u201d couldn't be sent: " + (err.message || "HTTP " + status);
  }
  function sendFile(file) {
    attachB.disabled = true;
    var done = function () { attachB.disabled = false; };
    return ensureConversation().then(function () {
      return fetch(BASE + "/v1/conversations/" + st.conv.id + "/attachments?filename=" + encodeURIComponent(file.name), {
        method: "POST", headers: { Authorization: "Bearer " + st.token, "Content-Type": file.type || "application/octet-stream" }, body: file
      });
    }).then(function (r) {
      return r.text().then(function (t) {
        var j = null; try { j = t ? JSON.parse(t) : null; } catch (x) { j = null; }
        if (!r.ok) { notice(fileError(r.status, j, file.name), true); emit("error", { code: j && j.error && j.error.code, message: j && j.error && j.error.message }); return; }
        addMessage(j.message); setConv(j.conversation);
      });
    }, function (e) { notice(e.status ? humanError(e) : fileError(0, null, file.name), true); }).then(done, done);
  }
  var blobUrls = {}, blobPending = {};
  function fileUrl(m) {
    var a = m.attachment;
    if (blobUrls[a.id]) return Promise.resolve(blobUrls[a.id]);
    if (!blobPending[a.id]) {
      blobPending[a.id] = fetch(BASE + "/v1/conversations/" + st.conv.id + "/attachments/" + a.id, { headers: { Authorization: "Bearer " + st.token } })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.blob(); })
        .then(function (b) { blobUrls[a.id] = URL.createObjectURL(b); return blobUrls[a.id]; });
      blobPending[a.id].catch(function () { delete blobPending[a.id]; });
    }
    return blobPending[a.id];
  }
  function fileView(m) {
    var a = m.attachment;
    if (/^image\//.test(a.content_type)) {
      var img = el("img", { alt: a.filename });
      if (blobUrls[a.id]) img.src = blobUrls[a.id];
      else fileUrl(m).then(function (u) { img.src = u; }, function () { img.replaceWith(el("span", { text: a.filename + " (couldn't be loaded)" })); });
      return el("a", { "class": "baton-w-file", href: "#", title: a.filename, "data-attachment": a.id, onclick: function (e) {
        e.preventDefault(); fileUrl(m).then(function (u) { window.open(u, "_blank", "noopener"); });
      } }, [img, el("span", { "class": "baton-w-fname", text: a.filename + " \u00b7 " + sizeLabel(a.size) })]);
    }
    return el("a", { "class": "baton-w-file baton-w-pdf", href: "#", title: "Download " + a.filename, "data-attachment": a.id, onclick: function (e) {
      e.preventDefault();
      fileUrl(m).then(function (u) { var dl = el("a", { href: u, download: a.filename }); document.body.appendChild(dl); dl.click(); dl.remove(); },
        function () { notice("\u201c" + a.filename + "\u201d couldn't be downloaded. Please try again.", true); });
    } }, [el("span", { "class": "baton-w-ficon", "aria-hidden": "true", text: "PDF" }), el("span", { text: a.filename }), el("span", { "class": "baton-w-fname", text: sizeLabel(a.size) })]);
  }
  function talkToHuman() { send("Talk to a person", "talk_to_human").catch(function (e) { notice(humanError(e), true); }); }

  function addMessage(m) {
    if (!m || !m.id || m.role === "note") return false;
    var known = st.msgs[m.id];
    st.msgs[m.id] = Object.assign({}, known || {}, m);
    if (!known) {
      st.order.push(m.id);
      if (m.role === "bot" || m.role === "agent") {
        emit("message", { id: m.id, role: m.role, text: m.text, attachment: m.attachment || null });
        if (!st.open && booted) setUnread(unread + 1);
      }
    }
    render();
    return !known;
  }

  function setConv(c) {
    if (!c) return;
    var before = st.lastState;
    st.conv = Object.assign(st.conv || {}, c);
    st.lastState = c.state;
    if (before && before !== "closed" && c.state === "closed") { st.csatSent = false; csat = null; csatScore = 0; }
    if (before !== c.state && c.state) emit("state", { id: st.conv.id, state: c.state });
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
      if (e.type === "typing") { showAgentTyping(!!(e.data && e.data.typing), e.data && e.data.agent_name); return; }
      var d = e.data || {};
      if (e.type === "message_added" && d.message) {
        if (d.message.role === "agent" && d.message.agent_name) st.agentName = d.message.agent_name;
        if (d.message.role === "agent") showAgentTyping(false);
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
    if (GREETING && !st.order.some(function (id) { return st.msgs[id].role !== "notice"; })) {
      log.appendChild(el("div", { "class": "baton-w-greeting", id: "baton-w-greeting", text: GREETING }));
    }
    st.order.forEach(function (id) {
      var m = st.msgs[id];
      if (m.role === "notice") {
        log.appendChild(el("div", { "class": "baton-w-notice" + (m.err ? " baton-w-err" : ""), role: m.err ? "alert" : null, text: m.text }));
        return;
      }
      var who = m.role === "customer" ? "You" : m.role === "bot" ? "Assistant" :
        m.role === "agent" ? (m.agent_name || st.agentName || "Agent") : "";
      var node = el("div", { "class": "baton-w-msg baton-w-" + m.role, "data-id": m.id, "data-role": m.role }, [
        who ? el("span", { "class": "who", text: who }) : null, m.attachment ? fileView(m) : el("span", { "class": "text" }, linkify(m.text))]);
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
        extra.appendChild(csatForm());
        if (focused && csat && csat.contains(focused) && document.activeElement !== focused) focused.focus();
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
  // Only http(s) URLs become links, opened apart from the site; the rest stays text.
  function linkify(text) {
    var out = [], re = /\bhttps?:\/\/[^\s<>"']+/gi, last = 0, m, s = String(text || "");
    while ((m = re.exec(s))) {
      var url = m[0].replace(/[.,;:!?)\]]+$/, ""), href = null;
      try { var u = new URL(url); if (u.protocol === "http:" || u.protocol === "https:") href = u.href; } catch (e) { href = null; }
      if (!href) continue;
      out.push(document.createTextNode(s.slice(last, m.index)));
      out.push(el("a", { href: href, target: "_blank", rel: "noopener noreferrer nofollow", text: url }));
      last = m.index + url.length;
    }
    out.push(document.createTextNode(s.slice(last)));
    return out;
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

  // Stars, then an optional comment; built once per closed conversation so typing survives
  // live re-renders.
  var csat = null, csatScore = 0;
  function csatForm() {
    if (csat) return csat;
    var stars = el("div", { "class": "baton-w-stars", role: "group", "aria-label": "Rate this conversation from 1 to 5" });
    var comment = el("textarea", { id: "baton-w-csat-comment", rows: "2", maxlength: "1000", "aria-label": "Anything to add? (optional)", placeholder: "Anything to add? (optional)" });
    var sendB = el("button", { type: "submit", id: "baton-w-csat-send", text: "Send rating", disabled: "" });
    [1, 2, 3, 4, 5].forEach(function (n) {
      stars.appendChild(el("button", { type: "button", "data-score": String(n), "aria-pressed": "false", "aria-label": "Rate " + n + " out of 5", text: "★ " + n, onclick: function () {
        csatScore = n; sendB.disabled = false;
        [].forEach.call(stars.children, function (b) { b.setAttribute("aria-pressed", String(Number(b.getAttribute("data-score")) === n)); b.style.background = Number(b.getAttribute("data-score")) <= n ? "#ffe9a8" : ""; });
      } }));
    });
    csat = el("form", { "class": "baton-w-card", id: "baton-w-csat", onsubmit: function (e) { e.preventDefault(); if (csatScore) rate(csatScore, comment.value.trim()); } },
      [el("div", { text: "How did we do?" }), stars, comment, el("div", { "class": "baton-w-row" }, [sendB])]);
    return csat;
  }
  function rate(n, comment) {
    st.csatSent = true;
    var body = { score: n };
    if (comment) body.comment = comment.slice(0, 1000);
    api("POST", "/v1/conversations/" + st.conv.id + "/csat", body).then(function (c) { csat = null; csatScore = 0; setConv(c); }, function (e) { st.csatSent = false; notice(humanError(e), true); render(); });
    render();
  }

  // Another account signed in on this browser never sees the previous account's saved
  // conversation; signing out is Baton.reset().
  function identify(info) {
    if (!info || typeof info !== "object") return;
    var before = who.external_id || null;
    var next = {};
    for (var k in info) if (Object.prototype.hasOwnProperty.call(info, k)) next[k] = info[k];
    if (next.external_id != null) next.external_id = String(next.external_id);
    who = next;
    var s = saved();
    var changed = (who.external_id || null) !== before;
    // An anonymous conversation stays with the customer who signs in; another account's
    // conversation is forgotten.
    if (st.conv && changed && s && s.external_id && who.external_id && s.external_id !== who.external_id) { forget(); render(); }
    if (started && !st.conv) resume();
  }
  function reset() { who = {}; forget(); render(); }

  var started = false;
  function start() {
    build();
    started = true;
    var s = saved();
    if (s && s.token && s.conversation_id && s.external_id && who.external_id && s.external_id !== who.external_id) {
      localStorage.removeItem(STORE); s = null;
    }
    if (s && s.token && s.conversation_id) {
      st.token = s.token; st.conv = { id: s.conversation_id };
      refetch().then(function () { if (st.token) connect(); });
    } else {
      resume();
    }
    render();
    if (/[?&]baton_open=1/.test(location.search) || (s && s.token)) { if (!st.open) toggle(); }
    emit("ready", {});
  }

  // The public API; calls queued before the script loaded (Baton("identify", {...})) run now.
  var queued = (typeof window.Baton === "function" && window.Baton.q) || [];
  var Baton = function (method) {
    var f = Baton[method];
    if (typeof f === "function") return f.apply(null, Array.prototype.slice.call(arguments, 1));
  };
  Baton.identify = identify;
  Baton.open = function () { if (!started) { pendingOpen = true; return; } if (!st.open) toggle(); };
  Baton.close = function () { if (started && st.open) toggle(); };
  Baton.reset = reset;
  Baton.on = function (name, fn) { (listeners[name] = listeners[name] || []).push(fn); if (name === "ready" && started) fn({}); };
  Baton.off = function (name, fn) { listeners[name] = (listeners[name] || []).filter(function (f) { return f !== fn; }); };
  var pendingOpen = false;
  window.Baton = Baton;
  for (var i = 0; i < queued.length; i++) Baton.apply(null, Array.prototype.slice.call(queued[i]));

  var booted = false;
  function boot() { start(); if (pendingOpen && !st.open) toggle(); setTimeout(function () { booted = true; }, 0); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot); else boot();
})();
