// Keeps a console page current without reloading it: every couple of seconds the page's live region is fetched
// again (as a fragment) and swapped in when it changed. Nothing is refreshed while someone types in it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  // Timeline bars carry their place as data (the page allows no inline style); set it through the CSSOM.
  function bars() {
    var spans = document.querySelectorAll(".bar span[data-left]");
    for (var i = 0; i < spans.length; i++) {
      spans[i].style.left = spans[i].getAttribute("data-left") + "%";
      spans[i].style.width = spans[i].getAttribute("data-width") + "%";
    }
  }
  bars();
  if (!live || !live.dataset.refresh) { return; }
  var every = parseInt(live.dataset.refresh, 10) || 2000;
  var last = null;
  var busy = false;
  function typing() {
    var fields = live.querySelectorAll("input[type=text], textarea");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
    var a = document.activeElement;
    return !!(a && a !== document.body && live.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName));
  }
  function tick() {
    if (busy || document.hidden || typing()) { return; }
    busy = true;
    fetch(location.href, { headers: { "X-Sluice-Fragment": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401) { location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html !== null && html !== last) {
          if (last !== null || html !== live.innerHTML) { live.innerHTML = html; bars(); }
          last = html;
          live.setAttribute("data-refreshed", String(Date.now()));
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  setInterval(tick, every);
})();
