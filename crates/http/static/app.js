// opsdesk progressive enhancement: keyboard shortcuts, live updates over server-sent
// events, the "also replying" warning and ticking SLA countdowns. Every page works without it.
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

  // The dashboard redraws itself from the server when tickets change, at most every two
  // seconds; without this script it is a plain page.
  var dashboard = document.getElementById("dashboard");
  if (window.EventSource && window.DOMParser && dashboard && dashboard.hasAttribute("data-live-dashboard")) {
    var pending = null;
    new EventSource("/events").addEventListener("changed", function () {
      if (pending) { return; }
      pending = setTimeout(function () {
        fetch(window.location.href, { credentials: "same-origin" })
          .then(function (response) { return response.ok ? response.text() : null; })
          .then(function (html) {
            pending = null;
            if (!html) { return; }
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("dashboard");
            if (fresh) { dashboard.innerHTML = fresh.innerHTML; }
          })
          .catch(function () { pending = null; });
      }, 2000);
    });
  }

  // "Insert link" puts a knowledge article's Markdown link into the reply being written.
  Array.prototype.forEach.call(document.querySelectorAll(".insert-link"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var body = document.getElementById("body");
      if (!body) { return; }
      var glue = body.value && !/\s$/.test(body.value) ? "\n" : "";
      body.value += glue + button.getAttribute("data-insert");
      body.focus();
    });
  });

  // While a customer describes a problem, the help articles that may answer it.
  var summary = document.querySelector("[data-suggest]");
  var suggestions = document.getElementById("suggestions");
  var reports = document.getElementById("similar-reports");
  if (summary && suggestions && window.fetch) {
    var list = suggestions.querySelector("ul");
    var typed = null;
    var asked = "";
    summary.addEventListener("input", function () {
      clearTimeout(typed);
      typed = setTimeout(function () {
        var words = summary.value.trim();
        if (words === asked) { return; }
        asked = words;
        if (words.length < 3) { suggestions.hidden = true; return; }
        var query = "q=" + encodeURIComponent(words) +
          "&visit=" + encodeURIComponent(summary.getAttribute("data-visit") || "") +
          "&category=" + encodeURIComponent(summary.getAttribute("data-category") || "");
        fetch("/api/v1/portal/suggestions?" + query,
              { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (found) {
            if (words !== asked) { return; }
            if (reports) {
              var many = found ? found.similar_reports : 0;
              reports.textContent = many ? reports.getAttribute("data-text").replace("{count}", many) : "";
              reports.hidden = !many;
            }
            while (list.firstChild) { list.removeChild(list.firstChild); }
            if (!found || !found.articles.length) { suggestions.hidden = true; return; }
            found.articles.forEach(function (article) {
              var item = document.createElement("li");
              var link = document.createElement("a");
              link.href = "/help/" + article.id;
              link.textContent = article.title;
              item.appendChild(link);
              if (article.snippet) {
                var snippet = document.createElement("p");
                snippet.className = "snippet";
                snippet.textContent = article.snippet;
                item.appendChild(snippet);
              }
              list.appendChild(item);
            });
            suggestions.hidden = false;
          })
          .catch(function () {});
      }, 250);
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

  // SLA countdowns: the server renders each clock's state and says for how many seconds
  // business time keeps passing like wall time (data-sla-counting); within that we tick
  // every 30 s. Outside working hours a clock stands still, so the server omits it.
  var body = document.body;
  var clocks = Array.prototype.slice.call(document.querySelectorAll("[data-sla-counting]"));
  function span(seconds) {
    // As the server's Lang::span: hours and minutes, rounded up.
    var minutes = Math.ceil(Math.max(0, seconds) / 60);
    var hours = Math.floor(minutes / 60);
    if (hours === 0) { return body.getAttribute("data-sla-minutes").replace("{m}", minutes); }
    return body.getAttribute("data-sla-hours").replace("{h}", hours).replace("{m}", minutes % 60);
  }
  function tick(loaded) {
    var passed = (Date.now() - loaded) / 1000;
    clocks.forEach(function (clock) {
      var left = Number(clock.getAttribute("data-sla-left")) -
        Math.min(passed, Number(clock.getAttribute("data-sla-counting")));
      var warn = clock.getAttribute("data-sla-warn");
      var state, text;
      if (left < 0) {
        state = "breached"; text = body.getAttribute("data-sla-breached-ago").replace("{time}", span(-left));
      } else if (warn !== null && left <= Number(warn)) {
        state = "warning"; text = body.getAttribute("data-sla-due-soon").replace("{time}", span(left));
      } else {
        state = "on_track"; text = body.getAttribute("data-sla-left").replace("{time}", span(left));
      }
      clock.className = "sla sla-" + state;
      clock.querySelector(".sla-text").textContent = text;
    });
  }
  if (clocks.length) {
    var loaded = Date.now();
    setInterval(function () { tick(loaded); }, 30000);
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
      case "a": var apply = document.getElementById("apply-suggestion"); if (apply) { apply.click(); } else { handled = false; } break;
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
