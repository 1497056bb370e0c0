/* The slider: every slide is sent to the server, which refuses it. Polls until a human (admin) clears it. */
(function () {
  "use strict";
  var nc = document.getElementById("nocaptcha");
  var track = document.getElementById("nc_1_n1t");
  var handle = document.getElementById("nc_1_n1z");
  var bg = document.getElementById("nc_1__bg");
  var err = nc.querySelector(".nc-error");
  var dragging = false, startX = 0, pos = 0, trail = [];
  function max() { return track.clientWidth - handle.offsetWidth; }
  function place(x) { pos = Math.max(0, Math.min(max(), x)); handle.style.left = pos + "px"; bg.style.width = (pos + 20) + "px"; }
  handle.addEventListener("mousedown", function (e) { dragging = true; startX = e.clientX - pos; trail = []; err.hidden = true; e.preventDefault(); });
  document.addEventListener("mousemove", function (e) { if (!dragging) { return; } place(e.clientX - startX); trail.push([e.clientX, e.clientY, Date.now()]); });
  document.addEventListener("mouseup", function () {
    if (!dragging) { return; }
    dragging = false;
    fetch(nc.getAttribute("data-slide-url"), { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ trail: trail, end: pos }) })
      .then(function (r) { return r.json(); })
      .then(function (j) { if (!j.ok) { err.textContent = j.message; err.hidden = false; place(0); } })
      .catch(function () { err.hidden = false; place(0); });
  });
  function poll() {
    fetch(nc.getAttribute("data-status-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        if (j.pending) { setTimeout(poll, 1000); return; }
        var back = nc.getAttribute("data-back");
        if (back) { location.href = back; } else { window.top.location.reload(); }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  setTimeout(poll, 1000);
})();
