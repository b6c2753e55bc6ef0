// The brokers' console: keyboard shortcuts, and the queue's selection kept across its automatic refreshes.
// Plain JavaScript, no inline handlers (the pages' Content-Security-Policy allows scripts from /console/static only).
(function () {
  "use strict";

  var SELECTED = "silkgate.console.selected";

  function typing(event) {
    var el = event.target;
    return event.ctrlKey || event.metaKey || event.altKey ||
      (el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT|BUTTON)$/.test(el.tagName) && el.type !== "submit"));
  }

  function toggleHelp() {
    var help = document.getElementById("help");
    if (help) { help.hidden = !help.hidden; }
  }

  // ── the queue: j/k move the selection, Enter opens it; the selection survives each refresh ──

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue-table tbody tr")); }

  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    sessionStorage.setItem(SELECTED, row.dataset.id);
    var box = row.getBoundingClientRect();
    if (box.top < 0 || box.bottom > window.innerHeight) { row.scrollIntoView({block: "nearest"}); }
  }

  function restoreSelection() {
    var all = rows();
    if (!all.length) { return; }
    var id = sessionStorage.getItem(SELECTED);
    var found = all.filter(function (r) { return r.dataset.id === id; })[0];
    if (found) {
      found.classList.add("selected");
      found.setAttribute("aria-selected", "true");
    }
  }

  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var current = all.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = current < 0 ? 0 : Math.min(Math.max(current + step, 0), all.length - 1);
    select(all[next]);
  }

  function queueKeys(event) {
    if (event.key === "j") { move(1); return true; }
    if (event.key === "k") { move(-1); return true; }
    if (event.key === "Enter") {
      var row = document.querySelector("#queue-table tr.selected");
      if (row) { window.location.href = row.dataset.href; return true; }
    }
    if (event.key === "/") { var search = document.getElementById("search"); if (search) { search.focus(); search.select(); return true; } }
    return false;
  }

  // ── a declaration: j/k next and previous, c claim, u give back, f the forward action's form ──

  function click(id) {
    var el = document.getElementById(id);
    if (el) { el.click(); return true; }
    return false;
  }

  function submit(form) {
    if (!form) { return false; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    return true;
  }

  function declarationKeys(event) {
    if (event.key === "j") { return click("next"); }
    if (event.key === "k") { return click("previous"); }
    var form = document.querySelector("form[data-shortcut='" + event.key + "']");
    if (!form) { return false; }
    var fieldset = form.querySelector("fieldset");
    var first = form.querySelector("select, input:not([type=hidden]), textarea");
    if (fieldset && fieldset.disabled) { form.classList.add("nudge"); return true; }
    if (first) { first.focus(); return true; }  // an action with fields: fill them in, then submit
    return submit(form);  // claim and give back need nothing more
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { var help = document.getElementById("help"); if (help) { help.hidden = true; } return; }
    if (typing(event)) { return; }
    var page = document.body.dataset.page;
    var handled = false;
    if (event.key === "?") { toggleHelp(); handled = true; }
    else if (event.key === "g" && page !== "sign-in") { window.location.href = (document.getElementById("back") || {}).href || "/console/queue"; handled = true; }
    else if (page === "queue") { handled = queueKeys(event); }
    else if (page === "declaration") { handled = declarationKeys(event); }
    if (handled) { event.preventDefault(); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-help-toggle]")) { toggleHelp(); return; }
    var row = event.target.closest("#queue-table tbody tr");
    if (row && !event.target.closest("a")) { select(row); }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target && event.target.id === "queue-live") { restoreSelection(); }
  });
  document.addEventListener("DOMContentLoaded", restoreSelection);
})();
