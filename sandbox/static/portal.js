/* Sandbox portal behaviour: banners, overlay, tabs, "View orders", dialogs, refund form, uploads. */
(function () {
  "use strict";
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  function openModal(id) { var m = document.getElementById(id); if (m) { m.hidden = false; } }
  function closeModal(el) { var m = el.closest(".comet-modal-mask, .comet-v2-modal-wrap"); if (m) { m.hidden = true; } }

  document.addEventListener("DOMContentLoaded", function () {
    // cookie banner
    $$(".gdpr-banner .btn-accept").forEach(function (b) {
      b.addEventListener("click", function () {
        document.cookie = "sbx_gdpr=1; path=/; max-age=31536000; samesite=lax";
        var banner = b.closest(".gdpr-banner"); if (banner) { banner.remove(); }
      });
    });
    // loading overlay removes itself
    $$(".comet-loading-wrap").forEach(function (o) {
      setTimeout(function () { o.remove(); }, parseInt(o.getAttribute("data-ms") || "1000", 10));
    });
    // tabs: the whole tab is clickable
    $$(".comet-tabs-nav-item").forEach(function (tab) {
      tab.addEventListener("click", function (ev) {
        if (ev.target.tagName === "A") { return; }
        location.href = "/p/order/index.html?tab=" + encodeURIComponent(tab.getAttribute("data-tab"));
      });
    });
    // copy order id
    document.addEventListener("click", function (ev) {
      var c = ev.target.closest("[data-copy]");
      if (c && navigator.clipboard) { navigator.clipboard.writeText(c.getAttribute("data-copy")).catch(function () {}); }
    });
    // "View orders" appends the next batch
    var more = $(".order-more[data-pl=order_more]");
    if (more) {
      var btn = $("button", more);
      btn.addEventListener("click", function () {
        var cards = $(".order-cards");
        var url = "/p/order/api/list?tab=" + encodeURIComponent(cards.getAttribute("data-tab")) +
          "&keyword=" + encodeURIComponent(cards.getAttribute("data-keyword")) + "&offset=" + more.getAttribute("data-offset");
        btn.disabled = true;
        fetch(url, { credentials: "same-origin" }).then(function (r) {
          if (r.status === 401) { return r.json().then(function (j) { location.href = j.url; throw new Error("login"); }); }
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          var ct = r.headers.get("content-type") || "";
          if (ct.indexOf("json") >= 0) { return r.json().then(function (j) { if (j.url) { location.href = j.url; } throw new Error(j.action); }); }
          return r.text().then(function (html) {
            cards.insertAdjacentHTML("beforeend", html);
            more.setAttribute("data-offset", r.headers.get("X-Next-Offset"));
            if (r.headers.get("X-Has-More") !== "1") { more.remove(); }
          });
        }).catch(function () {}).finally(function () { btn.disabled = false; });
      });
    }
    // generic modals
    document.addEventListener("click", function (ev) {
      var opener = ev.target.closest("[data-open-modal]");
      if (opener) { openModal(opener.getAttribute("data-open-modal")); return; }
      var closer = ev.target.closest("[data-close-modal]");
      if (closer) { closeModal(closer); }
    });
    // cancel dialog: Submit -> "Are you sure?" -> Confirm posts the form
    var cancelSubmit = $("[data-cancel-submit]");
    if (cancelSubmit) {
      cancelSubmit.addEventListener("click", function () {
        var form = $("#cancel-form");
        var err = $(".comet-form-error", form);
        if (!$("input[name=reason]:checked", form)) { err.textContent = err.getAttribute("data-msg"); err.hidden = false; return; }
        err.hidden = true;
        $("#cancel-modal").hidden = true;
        openModal("cancel-confirm");
      });
    }
    // Returns/refunds: optional first modal, then the form in a new tab
    var pendingRefund = null;
    $$("[data-refund-url]").forEach(function (b) {
      b.addEventListener("click", function () {
        var first = b.getAttribute("data-first-modal");
        if (first) { pendingRefund = b.getAttribute("data-refund-url"); openModal(first); return; }
        window.open(b.getAttribute("data-refund-url"), "_blank");
      });
    });
    $$("[data-first-continue]").forEach(function (b) {
      b.addEventListener("click", function () {
        closeModal(b);
        if (pendingRefund) { window.open(pendingRefund, "_blank"); pendingRefund = null; }
      });
    });
    // layout B login: email first, then the password
    var lf = $("#login-form[data-email-first]");
    if (lf) {
      var reveal = function () {
        if (!$("#fm-login-id", lf).value) { return false; }
        $(".batman-password", lf).hidden = false;
        $(".batman-continue", lf).hidden = true;
        $(".login-submit", lf).hidden = false;
        $("#fm-login-password", lf).focus();
        return true;
      };
      $(".batman-continue", lf).addEventListener("click", reveal);
      lf.addEventListener("submit", function (ev) {
        if ($(".batman-password", lf).hidden) { ev.preventDefault(); reveal(); }
      });
    }
    initUploads();
    initRefundForm();
    initSolutions();
  });

  function initUploads() {
    $$("[data-upload]").forEach(function (w) {
      var list = $("[data-upload-list]", w);
      var errors = $("[data-upload-errors]", w);
      var input = $("input[type=file]", w);
      var trigger = input.closest("label");
      function addThumb(id, url, name) {
        var item = document.createElement("div");
        item.className = w.getAttribute("data-item-class");
        item.setAttribute("data-upload-id", id);
        var th = document.createElement("div");
        th.className = w.getAttribute("data-thumb-class");
        th.style.backgroundImage = "url(\"" + url + "\")";
        th.title = name;
        var rm = document.createElement("button");
        rm.type = "button"; rm.className = w.getAttribute("data-remove-class");
        rm.setAttribute("aria-label", w.getAttribute("data-remove-text")); rm.setAttribute("data-remove", id);
        rm.innerHTML = "&times;";
        var hid = document.createElement("input");
        hid.type = "hidden"; hid.name = "evidence"; hid.value = id;
        item.appendChild(th); item.appendChild(rm); item.appendChild(hid);
        list.insertBefore(item, trigger);
      }
      function showError(text) {
        var e = document.createElement("div");
        e.className = w.getAttribute("data-error-class");
        e.setAttribute("role", "alert");
        e.textContent = text;
        errors.appendChild(e);
      }
      function uploadOne(file) {
        var fd = new FormData();
        fd.append("file", file, file.name);
        return fetch(w.getAttribute("data-url"), { method: "POST", body: fd, credentials: "same-origin" })
          .then(function (r) {
            return r.json().catch(function () { return { ok: false, error: w.getAttribute("data-failed") }; });
          })
          .then(function (j) {
            if (j.ok) { addThumb(j.id, j.url, j.filename); }
            else if (j.action === "login" || j.action === "captcha") { location.href = j.url; }
            else { showError(j.error || w.getAttribute("data-failed")); }
          })
          .catch(function () { showError(w.getAttribute("data-failed")); });
      }
      input.addEventListener("change", function () {
        errors.innerHTML = "";
        var files = Array.prototype.slice.call(input.files);
        input.value = "";
        files.reduce(function (p, f) { return p.then(function () { return uploadOne(f); }); }, Promise.resolve());
      });
      w.addEventListener("click", function (ev) {
        var rm = ev.target.closest("[data-remove]");
        if (!rm) { return; }
        var id = rm.getAttribute("data-remove");
        fetch("/p/reverse-pages/api/upload/" + id + "/remove", { method: "POST", credentials: "same-origin" })
          .then(function () { var it = rm.closest("[data-upload-id]"); if (it) { it.remove(); } });
      });
    });
  }

  function initRefundForm() {
    var form = $("#refund-form");
    if (!form) { return; }
    var sel = $("[data-select]", form), menu = $("[data-select-menu]", form);
    sel.addEventListener("click", function () { menu.hidden = !menu.hidden; sel.setAttribute("aria-expanded", String(!menu.hidden)); });
    $$(".comet-v2-menu-item", menu).forEach(function (it) {
      it.addEventListener("click", function () {
        $("input[name=reason]", form).value = it.getAttribute("data-value");
        var txt = $("[data-select-text]", sel);
        txt.textContent = it.textContent; txt.className = "comet-v2-select-selection-item comet-v2-select-selected";
        menu.hidden = true; sel.setAttribute("aria-expanded", "false");
      });
    });
    var err = $("[data-form-error]", form);
    function fail(msg) { err.textContent = msg; err.hidden = false; return false; }
    function validate() {
      err.hidden = true;
      if (!$("input[name=reason]", form).value) { return fail(form.getAttribute("data-no-reason")); }
      var raw = $("input[name=refundAmount]", form).value.replace(",", ".").trim();
      var amount = Number(raw), max = Number(form.getAttribute("data-max"));
      if (!raw || isNaN(amount) || amount <= 0 || amount > max + 1e-9) { return fail(form.getAttribute("data-amount-error")); }
      if (!$$("input[name=evidence]", $("[data-step='1']", form)).length) { return fail(form.getAttribute("data-no-files")); }
      return true;
    }
    $("[data-next]", form).addEventListener("click", function () {
      if (!validate()) { return; }
      var rows = [];
      $$(".comet-v2-form-item", $("[data-step='1']", form)).forEach(function (fi) {
        var label = $(".comet-v2-form-item-label", fi); if (!label) { return; }
        var value = "";
        var radio = $("input[type=radio]:checked", fi);
        if (radio) { value = radio.parentNode.textContent.trim(); }
        else if ($("[data-select]", fi)) { value = $("[data-select-text]", fi).textContent; }
        else if ($("input[name=refundAmount]", fi)) { value = $("input[name=refundAmount]", fi).value; }
        else if ($("textarea", fi)) { value = $("textarea", fi).value; }
        else { value = String($$("input[name=evidence]", fi).length); }
        rows.push([label.textContent, value]);
      });
      var box = $("[data-summary]", form); box.innerHTML = "";
      rows.forEach(function (r) {
        var d = document.createElement("div"); d.className = "comet-v2-descriptions-row";
        var a = document.createElement("span"); a.textContent = r[0] + ": ";
        var b = document.createElement("span"); b.textContent = r[1];
        d.appendChild(a); d.appendChild(b); box.appendChild(d);
      });
      $("[data-step='1']", form).hidden = true;
      $("[data-step='2']", form).hidden = false;
    });
    $("[data-back]", form).addEventListener("click", function () {
      $("[data-step='2']", form).hidden = true; $("[data-step='1']", form).hidden = false;
    });
    $("[data-pl=buyersubmit_btn_submit]", form).addEventListener("click", function () { openModal("confirm-modal"); });
  }

  function initSolutions() {
    var t = $("[data-toggle=solutions]");
    if (!t) { return; }
    t.addEventListener("click", function () { $("#solutions").hidden = false; });
    var cb = $("[data-disagree]");
    cb.addEventListener("change", function () { $("[data-upload-more]").hidden = !cb.checked; });
  }
})();
