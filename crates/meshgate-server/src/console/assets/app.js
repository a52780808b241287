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
  });
  source.addEventListener("open", function () {
    if (status) status.textContent = "Live.";
  });
  source.addEventListener("error", function () {
    if (status) status.textContent = "Reconnecting\u2026";
  });
})();
