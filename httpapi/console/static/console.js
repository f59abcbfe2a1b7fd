// freezeledger console: progressive enhancement only. Without this script every action link opens
// its dialog as a page and every form posts as it is; with it, the same forms open in a <dialog>
// on the page itself. No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";
(function () {
  // Enhanced: the dialogs below open on the page (and tests wait for this mark before clicking).
  document.documentElement.classList.add("js");
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

// Live updates: a page with data-live on <main> follows the signed-in principal's change feed
// (/console/live, server-sent events proxied from GET /v1/changes). A change of a customer in the
// table replaces its row with the row as the server renders it now; a change of the customer a
// customer page shows replaces the page's sections. Without EventSource the page stays as rendered.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var url = main && main.getAttribute("data-live");
  if (!url || !window.EventSource || !window.fetch || !window.DOMParser) { return; }
  var pageOf = document.querySelector("[data-customer-page]");
  var pageCustomer = pageOf ? pageOf.getAttribute("data-customer-page") : "";
  var busy = {}, again = {};

  function parse(html) { return new DOMParser().parseFromString(html, "text/html"); }

  function get(path) {
    return fetch(path, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok || r.redirected) { throw new Error("console: " + path + " answered " + r.status); }
      return r.text();
    });
  }

  function cssID(id) { return window.CSS && CSS.escape ? CSS.escape(id) : id.replace(/["\\]/g, "\\$&"); }

  function refreshRow(id) {
    var ret = location.pathname + location.search;
    return get("/console/customers/" + encodeURIComponent(id) + "/row?return=" + encodeURIComponent(ret)).then(function (html) {
      var fresh = parse(html).querySelector("tr[data-customer]");
      var old = document.querySelector('tr[data-customer="' + cssID(id) + '"]');
      if (!fresh || !old) { return; }
      var box = old.querySelector('input[name="id"]'), nbox = fresh.querySelector('input[name="id"]');
      if (box && nbox) { nbox.checked = box.checked; }
      fresh.classList.add("updated");
      old.replaceWith(document.importNode(fresh, true));
    });
  }

  function refreshPage() {
    var u = new URL(location.href);
    u.searchParams.set("live", "1");
    return get(u.pathname + u.search).then(function (html) {
      var doc = parse(html);
      doc.querySelectorAll("[data-live-section]").forEach(function (sec) {
        var old = document.getElementById(sec.id);
        if (old) { old.replaceWith(document.importNode(sec, true)); }
      });
    });
  }

  // refresh updates what shows customer id, one request at a time per customer (a change that
  // arrives meanwhile is fetched once more afterwards).
  function refresh(id, how) {
    if (busy[id]) { again[id] = true; return; }
    busy[id] = true;
    how(id).catch(function () {}).then(function () {
      busy[id] = false;
      if (again[id]) { again[id] = false; refresh(id, how); }
    });
  }

  var es = new EventSource(url);
  es.addEventListener("status", function (e) {
    var item;
    try { item = JSON.parse(e.data); } catch (err) { return; }
    var id = item && item.customer_id;
    if (!id) { return; }
    if (pageCustomer) {
      if (id === pageCustomer) { refresh(id, refreshPage); }
    } else if (document.querySelector('tr[data-customer="' + cssID(id) + '"]')) {
      refresh(id, refreshRow);
    }
  });
  window.addEventListener("pagehide", function () { es.close(); });
})();
