/* Plugboard live regions: poll an HTML fragment and swap in what changed.
 *
 * A region is an element with data-live-url (the fragment), data-live-etag (the
 * version it shows) and data-live-interval (milliseconds). Inside the fragment,
 * elements with data-key / data-sig are the units of change: when the keys are the
 * same and in the same order, only elements whose signature changed are replaced
 * (focus, scroll and the rest stay untouched); otherwise the whole region is.
 * The server answers 304 when nothing changed. Polling pauses while the tab is
 * hidden and resumes at once when it is shown again. Durations marked
 * <time data-since> count up locally between polls, using the server's clock. */
(function () {
  "use strict";

  var clockSkew = 0; // server time - local time, in ms

  function humanize(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400); s -= d * 86400;
    var h = Math.floor(s / 3600); s -= h * 3600;
    var m = Math.floor(s / 60); s -= m * 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    if (d) return d + " d " + h + " h";
    if (h) return h + " h " + pad(m) + " min";
    if (m) return m + " min " + pad(s) + " s";
    return s + " s";
  }

  function tickDurations(root) {
    var now = Date.now() + clockSkew;
    (root || document).querySelectorAll("time[data-since]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) el.textContent = humanize(now - at) + (el.dataset.suffix || "");
    });
  }

  function readSkew(root) {
    var body = root.querySelector("[data-now]");
    if (body) {
      var serverNow = Date.parse(body.dataset.now);
      if (!isNaN(serverNow)) clockSkew = serverNow - Date.now();
    }
  }

  function keyed(root) {
    return Array.prototype.slice.call(root.querySelectorAll("[data-key]"));
  }

  // What a screen reader hears: connectors whose state changed, not every poll.
  function connectorStates(root) {
    var states = {};
    root.querySelectorAll("[data-connector][data-state]").forEach(function (el) {
      var owner = el.closest("[data-charger]");
      var name = owner ? owner.dataset.charger : (document.querySelector("h1") || {}).textContent;
      var label = el.querySelector(".state-badge");
      states[(name || "").trim() + " connector " + el.dataset.connector] =
        label ? label.textContent.trim() : el.dataset.state;
    });
    return states;
  }

  function announce(region, before, after) {
    var target = document.querySelector("[data-live-announce]");
    if (!target) return;
    var changes = Object.keys(after).filter(function (key) {
      return before[key] !== undefined && before[key] !== after[key];
    }).map(function (key) { return key + ": " + after[key]; });
    if (changes.length > 5) changes = [changes.length + " connectors changed state"];
    if (changes.length) target.textContent = changes.join(". ") + ".";
  }

  function swap(region, html) {
    var incoming = document.createElement("template");
    incoming.innerHTML = html.trim();
    var fresh = incoming.content;
    var oldParts = keyed(region);
    var newParts = keyed(fresh);
    var sameShape = oldParts.length === newParts.length && oldParts.every(function (el, i) {
      return el.dataset.key === newParts[i].dataset.key;
    });
    var changed = 0;
    if (sameShape && oldParts.length) {
      // Replace the outermost changed units only (a changed unit inside a replaced
      // one comes along with it).
      oldParts.forEach(function (el, i) {
        var next = newParts[i];
        if (el.dataset.sig !== next.dataset.sig && document.contains(el)) {
          var parentKeyed = el.parentElement && el.parentElement.closest("[data-key]");
          if (parentKeyed && region.contains(parentKeyed) && parentKeyed !== el) {
            var parentIndex = oldParts.indexOf(parentKeyed);
            if (parentIndex >= 0 && oldParts[parentIndex].dataset.sig !== newParts[parentIndex].dataset.sig) return;
          }
          el.replaceWith(document.importNode(next, true));
          changed += 1;
        }
      });
      var oldBody = region.querySelector("[data-now]");
      var newBody = fresh.querySelector("[data-now]");
      if (oldBody && newBody) oldBody.dataset.now = newBody.dataset.now;
    } else {
      region.replaceChildren(document.importNode(fresh, true));
      changed = newParts.length || 1;
    }
    readSkew(region);
    tickDurations(region);
    return changed;
  }

  function setStatus(region, text, isError) {
    var scope = region.closest("section, main") || document;
    var el = scope.querySelector("[data-live-status]") || document.querySelector("[data-live-status]");
    if (!el) return;
    el.textContent = text;
    var indicator = el.closest(".live-indicator");
    if (indicator) indicator.classList.toggle("is-stale", !!isError);
  }

  function clockText() {
    var d = new Date();
    return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function setup(region) {
    var url = region.dataset.liveUrl;
    var interval = parseInt(region.dataset.liveInterval || "5000", 10);
    var etag = region.dataset.liveEtag || null;
    var busy = false;
    var stopped = false;
    var failures = 0;
    var timer = null;

    function schedule(delay) {
      clearTimeout(timer);
      if (!stopped) timer = setTimeout(poll, delay);
    }

    function poll() {
      if (stopped) return;
      if (document.hidden) { return; } // resumed by visibilitychange
      if (busy) { schedule(interval); return; }
      busy = true;
      var headers = { "X-Requested-With": "fetch" };
      if (etag) headers["If-None-Match"] = etag;
      fetch(url, { headers: headers, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.redirected || response.status === 401 || response.status === 403) {
            stopped = true;
            setStatus(region, "Signed out: reload the page to continue live updates.", true);
            return null;
          }
          if (response.status === 304) return "";
          if (!response.ok) throw new Error("HTTP " + response.status);
          etag = response.headers.get("ETag") || etag;
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          failures = 0;
          if (html) {
            var before = connectorStates(region);
            region.setAttribute("aria-busy", "true");
            var changed = swap(region, html);
            region.removeAttribute("aria-busy");
            announce(region, before, connectorStates(region));
            region.dispatchEvent(new CustomEvent("live:updated", { detail: { changed: changed } }));
          }
          setStatus(region, "Live: updated " + clockText(), false);
        })
        .catch(function () {
          failures += 1;
          setStatus(region, "Connection lost: retrying…", true);
        })
        .finally(function () {
          busy = false;
          // Back off while the server is unreachable, up to a minute.
          schedule(failures ? Math.min(interval * Math.pow(2, failures), 60000) : interval);
        });
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) schedule(0);
    });
    readSkew(region);
    schedule(interval);
  }

  function confirmDanger(event) {
    var form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(setup);
    document.addEventListener("submit", confirmDanger);
    tickDurations(document);
    setInterval(function () { if (!document.hidden) tickDurations(document); }, 1000);
  });
})();
