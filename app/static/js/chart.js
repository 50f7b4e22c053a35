// Machine detail page.
// 1. History charts: each `.history-chart` section carries its series as JSON
//    (<script type="application/json" class="chart-data">); every `.chart-canvas` in it gets
//    a uPlot step chart with the metric's normal band, in the browser's local time.
//    Charts are (re)built on load, after every htmx swap and after a history restore, and
//    follow their box's width.
// 2. Time zone: the browser's zone is remembered in the `floorline_tz` cookie, so the server
//    shows and reads times in it from the next request on; until then an empty hidden `tz`
//    input is filled in and the form's UTC times turned local (without JS, times are UTC).
// 3. "… ago" texts keep ageing between live updates, and a machine that stops reporting is
//    shown as silent when its time is up (no requests: the server pushes new values).
(function () {
  "use strict";

  var HEIGHT = 170;
  var LINE = "#1d4ed8";
  var BOOL_FILL = "rgba(29, 78, 216, 0.12)";
  var BAND_FILL = "rgba(21, 128, 61, 0.10)";
  var BAND_EDGE = "rgba(21, 128, 61, 0.6)";
  var AXIS = "#374151";
  var GRID = "#e5e7eb";
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  var plots = [];            // {plot, el, observer}
  var built = new WeakSet(); // chart boxes that have their plot

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function formatNumber(v) {
    if (Number.isInteger(v)) return v.toLocaleString("en-US");
    var a = Math.abs(v);
    if (a < 0.01) return v.toPrecision(2);
    return v.toLocaleString("en-US", { maximumFractionDigits: a < 1000 ? 2 : 1 });
  }

  function formatValue(s, v) {
    if (v == null) return "—";
    if (s.kind === "boolean") return v >= 0.5 ? s["true"] : s["false"];
    return formatNumber(v) + (s.unit ? " " + s.unit : "");
  }

  function timeLabels(u, splits, axisIdx, space, incr) {
    return splits.map(function (t) {
      var d = new Date(t * 1000);
      var day = d.getDate() + " " + MONTHS[d.getMonth()];
      if (incr >= 86400) return day;
      var hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
      return d.getHours() === 0 && d.getMinutes() === 0 ? day : hm;
    });
  }

  function legendTime(u, t) {
    if (t == null) return "—";
    var d = new Date(t * 1000);
    return d.getDate() + " " + MONTHS[d.getMonth()] + " " + pad(d.getHours()) + ":" +
      pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function yRange(s) {
    return function (u, min, max) {
      if (s.kind === "boolean") return [-0.15, 1.15];
      var lo = min, hi = max;
      if (s.min != null) lo = lo == null ? s.min : Math.min(lo, s.min);
      if (s.max != null) hi = hi == null ? s.max : Math.max(hi, s.max);
      if (lo == null || hi == null) { lo = 0; hi = 1; }
      if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
      var margin = (hi - lo) * 0.08;
      return [lo - margin, hi + margin];
    };
  }

  // The normal range as a green band behind the line, dashed at its edges.
  function drawBand(s) {
    return function (u) {
      if (s.kind !== "number" || (s.min == null && s.max == null)) return;
      var ctx = u.ctx, b = u.bbox, px = uPlot.pxRatio || 1;
      var top = s.max == null ? b.top : Math.max(b.top, u.valToPos(s.max, "y", true));
      var bottom = s.min == null ? b.top + b.height :
        Math.min(b.top + b.height, u.valToPos(s.min, "y", true));
      if (bottom <= top) return;
      ctx.save();
      ctx.fillStyle = BAND_FILL;
      ctx.fillRect(b.left, top, b.width, bottom - top);
      ctx.strokeStyle = BAND_EDGE;
      ctx.lineWidth = px;
      ctx.setLineDash([4 * px, 4 * px]);
      ctx.beginPath();
      if (s.max != null) { ctx.moveTo(b.left, top); ctx.lineTo(b.left + b.width, top); }
      if (s.min != null) { ctx.moveTo(b.left, bottom); ctx.lineTo(b.left + b.width, bottom); }
      ctx.stroke();
      ctx.restore();
    };
  }

  function options(s, sync, width) {
    var bool = s.kind === "boolean";
    return {
      width: width,
      height: HEIGHT,
      cursor: { sync: { key: sync }, drag: { x: true, y: false } },
      scales: { x: { time: true }, y: { range: yRange(s) } },
      legend: { live: true },
      series: [
        { label: "Time", value: legendTime },
        {
          label: s.label,
          stroke: LINE,
          width: 2,
          fill: bool ? BOOL_FILL : undefined,
          paths: uPlot.paths.stepped({ align: 1 }),
          points: { show: false },
          spanGaps: false,
          value: function (u, v) { return formatValue(s, v); }
        }
      ],
      axes: [
        { stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, values: timeLabels },
        {
          stroke: AXIS, grid: { stroke: GRID }, ticks: { stroke: GRID }, size: bool ? 80 : 64,
          splits: bool ? function () { return [0, 1]; } : undefined,
          values: function (u, splits) {
            return splits.map(function (v) {
              if (bool) return v === 1 ? s["true"] : v === 0 ? s["false"] : "";
              return formatNumber(v);
            });
          }
        }
      ],
      hooks: { drawClear: [drawBand(s)] }
    };
  }

  function dropDetached() {
    plots = plots.filter(function (p) {
      if (p.el.isConnected) return true;
      if (p.observer) p.observer.disconnect();
      p.plot.destroy();
      return false;
    });
  }

  function buildCharts() {
    if (typeof uPlot === "undefined") return;
    dropDetached();
    document.querySelectorAll(".history-chart").forEach(function (section) {
      var script = section.querySelector("script.chart-data");
      if (!script) return;
      var data;
      try { data = JSON.parse(script.textContent); } catch (e) { return; }
      var byKey = {};
      data.series.forEach(function (s) { byKey[s.key] = s; });
      section.querySelectorAll(".chart-canvas").forEach(function (el) {
        var s = byKey[el.getAttribute("data-series")];
        if (!s || built.has(el)) return;
        el.textContent = ""; // a history snapshot may hold a dead copy of the old plot
        var plot = new uPlot(options(s, data.sync, el.clientWidth || 300), [s.x, s.y], el);
        var entry = { plot: plot, el: el, observer: null };
        if (window.ResizeObserver) {
          var last = el.clientWidth;
          entry.observer = new ResizeObserver(function () {
            var width = el.clientWidth;
            if (width && width !== last) { last = width; plot.setSize({ width: width, height: HEIGHT }); }
          });
          entry.observer.observe(el);
        }
        built.add(el);
        plots.push(entry);
      });
    });
  }

  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }

  function inputValue(d) {
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  // Forms rendered without a zone show UTC times: turn them into local ones.
  function adoptBrowserZone() {
    var zone = browserZone();
    if (!/^[A-Za-z0-9_+\/-]+$/.test(zone)) return;
    if (document.cookie.indexOf("floorline_tz=" + zone) === -1) {
      document.cookie = "floorline_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
    if (zone === "UTC" || zone === "Etc/UTC") return;
    document.querySelectorAll("input[data-browser-tz]").forEach(function (tz) {
      if (tz.value || !tz.form) return;
      tz.form.querySelectorAll("input[type=datetime-local]").forEach(function (input) {
        if (!input.value) return;
        var d = new Date(input.value + "Z");
        if (!isNaN(d.getTime())) input.value = inputValue(d);
      });
      tz.value = zone;
      tz.form.querySelectorAll("[data-tz-label]").forEach(function (label) {
        label.textContent = zone;
      });
    });
  }

  // The same words as the server's `ago` filter.
  function ago(iso) {
    var seconds = Math.floor((Date.now() - Date.parse(iso)) / 1000);
    var units = [["day", 86400], ["hour", 3600], ["minute", 60]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1]) {
        var n = Math.floor(seconds / units[i][1]);
        return n + " " + units[i][0] + (n !== 1 ? "s" : "") + " ago";
      }
    }
    return "just now";
  }

  function tick() {
    document.querySelectorAll("time[data-ago]").forEach(function (t) {
      var when = t.getAttribute("datetime");
      if (when && !isNaN(Date.parse(when))) t.textContent = ago(when);
    });
    document.querySelectorAll("[data-silent-at]").forEach(function (badge) {
      if (Date.now() < Date.parse(badge.getAttribute("data-silent-at"))) return;
      badge.classList.remove("ok");
      badge.classList.add("warn");
      badge.textContent = "Silent";
      badge.removeAttribute("data-silent-at");
      var panel = badge.closest(".live-values");
      if (panel) {
        panel.querySelectorAll("[data-while-reporting]").forEach(function (n) { n.hidden = true; });
      }
    });
  }

  function init() {
    adoptBrowserZone();
    buildCharts();
    tick();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
  document.addEventListener("htmx:afterSettle", init);
  document.addEventListener("htmx:historyRestore", init);
  setInterval(tick, 15000);
})();
