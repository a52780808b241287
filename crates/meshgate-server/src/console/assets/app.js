// meshgate console: live rows for the overview from /ui/events.
// Data is only ever set with textContent / attributes, never parsed as HTML.
"use strict";

(function () {
  var box = document.getElementById("live");
  if (!box || typeof EventSource === "undefined") return;
  var list = box.querySelector("ol.dms");
  var status = document.getElementById("live-status");
  var MAX_ROWS = 200;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function row(m) {
    var li = el("li", "dm new");
    li.setAttribute("data-message-id", String(m.id));
    li.setAttribute("data-testid", "dm");
    var a = el("a", "head");
    a.href = "/ui/messages/" + encodeURIComponent(String(m.id));
    a.appendChild(el("span", "from", m.from));
    a.appendChild(document.createTextNode(" \u2192 "));
    a.appendChild(el("span", "to", m.to));
    a.appendChild(document.createTextNode(" "));
    a.appendChild(el("span", "kind", m.kind));
    a.appendChild(document.createTextNode(" "));
    var t = el("time", null, String(m.created_at).slice(0, 19).replace("T", " "));
    t.setAttribute("datetime", m.created_at);
    a.appendChild(t);
    li.appendChild(a);
    li.appendChild(el("p", "preview", m.preview + (m.cut ? "\u2026" : "")));
    return li;
  }

  // The peer table's counts: after DMs arrive, the overview is fetched again
  // (same session, same scope as this page) and its cells' text copied over,
  // at most once per second. DOMParser builds an inert document: nothing runs.
  var CELLS = ["online", "last-seen", "unread", "owed"];
  var pending = null;
  function refreshCounts() {
    if (pending || typeof fetch === "undefined" || typeof DOMParser === "undefined") return;
    pending = setTimeout(function () {
      fetch("/ui", { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html");
          var rows = fresh.querySelectorAll("table[data-testid=peers] tr[data-peer]");
          var byName = {};
          for (var i = 0; i < rows.length; i++) byName[rows[i].getAttribute("data-peer")] = rows[i];
          var mine = document.querySelectorAll("table[data-testid=peers] tr[data-peer]");
          for (var j = 0; j < mine.length; j++) {
            var src = byName[mine[j].getAttribute("data-peer")];
            if (!src) continue;
            CELLS.forEach(function (c) {
              var from = src.querySelector('[data-testid="' + c + '"]');
              var to = mine[j].querySelector('[data-testid="' + c + '"]');
              if (from && to && to.textContent !== from.textContent) to.textContent = from.textContent;
            });
          }
        })
        .catch(function () {})
        .then(function () { pending = null; });
    }, 1000);
  }

  var after = box.getAttribute("data-after") || "0";
  var source = new EventSource("/ui/events?after=" + encodeURIComponent(after));
  source.addEventListener("dm", function (ev) {
    var m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    if (list.querySelector('[data-message-id="' + String(Number(m.id)) + '"]')) return;
    var empty = box.querySelector(".empty");
    if (empty) empty.remove();
    list.insertBefore(row(m), list.firstChild);
    box.setAttribute("data-after", String(m.id));
    while (list.children.length > MAX_ROWS) list.removeChild(list.lastChild);
    if (status) status.textContent = "New message from " + m.from + " to " + m.to + ".";
    refreshCounts();
  });
  source.addEventListener("open", function () {
    if (status) status.textContent = "Live.";
  });
  source.addEventListener("error", function () {
    if (status) status.textContent = "Reconnecting\u2026";
  });
})();
