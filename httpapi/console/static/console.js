// freezeledger console: progressive enhancement only. Without this script every action link opens
// its dialog as a page and every form posts as it is; with it, the same forms open in a <dialog>
// on the page itself. No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";
(function () {
  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var a = new Uint8Array(16); crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function status(text) {
    var s = document.getElementById("status");
    if (!s) { return; }
    s.className = "flash refused";
    s.textContent = text;
  }

  function section(form, name, on) {
    var el = form.querySelector('[data-section="' + name + '"]');
    if (!el) { return; }
    el.hidden = !on;
    el.disabled = !on;
    el.querySelectorAll("input, select, textarea").forEach(function (i) { i.disabled = !on; });
  }

  // open shows the action dialog: post is where the form goes, ids the batch's customers.
  function open(opts) {
    var dlg = document.getElementById("action-dialog");
    if (!dlg || typeof dlg.showModal !== "function") { return false; }
    var form = dlg.querySelector("form");
    form.reset();
    form.action = opts.post;
    form.elements.idempotency_key.value = newKey();
    form.elements.action.value = opts.action || "";
    var single = form.querySelector("[data-single]");
    single.value = opts.unfreezeType || "";
    single.disabled = !opts.unfreezeType;
    document.getElementById("action-dialog-title").textContent = opts.label;
    document.getElementById("action-dialog-target").textContent = opts.target;
    var idBox = document.getElementById("action-dialog-ids");
    idBox.textContent = "";
    (opts.ids || []).forEach(function (id) {
      var i = document.createElement("input");
      i.type = "hidden"; i.name = "id"; i.value = id;
      idBox.appendChild(i);
    });
    var budget = opts.action === "budget";
    // A budget of one customer may also unfreeze it (then with a reason); a batch budget has neither.
    section(form, "reason", !budget || !opts.batch);
    section(form, "budget", budget);
    section(form, "budget-unfreeze", budget && !opts.batch);
    section(form, "batch-unfreeze", !!opts.batch && opts.action === "unfreeze");
    var reason = form.querySelector("#dlg-reason");
    reason.required = !budget;
    var help = form.querySelector("#dlg-reason-help");
    if (help) { help.hidden = !budget; }
    dlg.showModal();
    var first = form.querySelector("textarea:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled])");
    if (first) { first.focus(); }
    return true;
  }

  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a[data-action]");
    if (a) {
      var row = a.closest("[data-customer]");
      var id = row ? row.getAttribute("data-customer") : "";
      var ok = open({
        post: a.pathname, action: a.getAttribute("data-action"), label: a.getAttribute("data-label"),
        target: id ? "Customer " + id : document.title, unfreezeType: a.getAttribute("data-unfreeze-type")
      });
      if (ok) { e.preventDefault(); }
      return;
    }
    var close = e.target.closest && e.target.closest("[data-close]");
    if (close) {
      var dlg = close.closest("dialog");
      if (dlg) { dlg.close(); }
    }
  });

  document.addEventListener("change", function (e) {
    // The budget dialog's "Also unfreeze" makes the reason required, as the API does.
    if (e.target.name === "unfreeze" && e.target.form) {
      var r = e.target.form.querySelector("textarea[name=reason]");
      if (r) { r.required = e.target.checked; }
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    // On a phone the filters start folded, unless a search is shown.
    var filters = document.querySelector("details.filters");
    if (filters && !filters.hasAttribute("data-searched") && window.matchMedia("(max-width: 640px)").matches) {
      filters.open = false;
    }
    var batch = document.getElementById("batch-form");
    if (!batch) { return; }
    batch.addEventListener("submit", function (e) {
      var btn = e.submitter;
      if (!btn || !btn.value) { return; }
      var ids = Array.prototype.map.call(batch.querySelectorAll('input[name="id"]:checked'), function (i) { return i.value; });
      e.preventDefault();
      if (ids.length === 0) { status("Select one or more customers first."); return; }
      if (!open({ post: "/console/batch", action: btn.value, label: btn.textContent, batch: true,
        target: ids.length + " selected: " + ids.join(", "), ids: ids })) {
        batch.submit();
      }
    });
  });
})();
