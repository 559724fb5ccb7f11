// opsdesk progressive enhancement: keyboard shortcuts, live updates over server-sent
// events, and the "also replying" warning. Every page works without it.
(function () {
  "use strict";
  var me = document.body.getAttribute("data-me") || "";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function show(id) {
    var el = document.getElementById(id);
    if (el) { el.hidden = false; }
  }

  // Live updates: a ticket page listens to its own ticket, the list to every change.
  var ticket = document.querySelector("[data-ticket]");
  var queue = document.querySelector("[data-live-queue]");
  if (window.EventSource && (ticket || queue)) {
    var url = ticket ? "/events?ticket=" + encodeURIComponent(ticket.getAttribute("data-ticket")) : "/events";
    var source = new EventSource(url);
    source.addEventListener("changed", function (event) {
      var data = JSON.parse(event.data);
      if (data.actor !== me) { show(ticket ? "ticket-changed" : "list-changed"); }
    });
    var hideTimer = null;
    source.addEventListener("replying", function (event) {
      var data = JSON.parse(event.data);
      var who = document.getElementById("replying-who");
      if (who) { who.textContent = data.email; }
      show("replying");
      clearTimeout(hideTimer);
      hideTimer = setTimeout(function () {
        var box = document.getElementById("replying");
        if (box) { box.hidden = true; }
      }, 30000);
    });
  }

  // Tell other agents we are replying, at most every ten seconds while typing.
  var composer = document.getElementById("composer");
  if (composer && composer.getAttribute("data-replying")) {
    var last = 0;
    composer.addEventListener("input", function () {
      var now = Date.now();
      if (now - last < 10000) { return; }
      last = now;
      fetch(composer.getAttribute("data-replying"), {
        method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf }
      }).catch(function () { /* presence is only a hint */ });
    });
  }

  // Keyboard shortcuts, ignored while typing in a field.
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.row"));
  var current = -1;
  function select(index) {
    if (!rows.length) { return; }
    if (current >= 0) { rows[current].classList.remove("current"); }
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows[current].classList.add("current");
    var link = rows[current].querySelector("a");
    if (link) { link.focus(); }
  }
  function focus(id) {
    var el = document.getElementById(id);
    if (el) { el.focus(); return true; }
    return false;
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var tag = target && target.tagName;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    var handled = true;
    switch (event.key) {
      case "/": handled = focus("q"); break;
      case "j": select(current + 1); break;
      case "k": select(current - 1); break;
      case "o":
        if (current >= 0) { var a = rows[current].querySelector("a"); if (a) { a.click(); } }
        break;
      case "x":
        if (current >= 0) { var box = rows[current].querySelector("input[type=checkbox]"); if (box) { box.checked = !box.checked; } }
        break;
      case "r": var pub = document.getElementById("vis-public"); if (pub) { pub.checked = true; } handled = focus("body"); break;
      case "n": var note = document.getElementById("vis-note"); if (note) { note.checked = true; } handled = focus("body"); break;
      case "s": handled = focus("status"); break;
      case "q": window.location.href = "/tickets"; break;
      case "?":
        var help = document.getElementById("shortcuts");
        if (help) { help.hidden = !help.hidden; }
        break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  });
})();
