// Dashboard charts, drawn with the locally served Apache ECharts. Amounts arrive in fen.
(function () {
  "use strict";
  var PALETTE = ["#1a56db", "#c8102e", "#0f8a5f", "#b26a00", "#6b46c1", "#0e7490", "#be185d", "#4b5565"];

  function yuan(fen) {
    if (fen === null || fen === undefined) { return "—"; }
    var sign = fen < 0 ? "-" : "";
    fen = Math.abs(fen);
    var whole = Math.floor(fen / 100), part = fen % 100;
    return sign + whole.toLocaleString("en-US") + "." + (part < 10 ? "0" : "") + part;
  }
  // Axis labels in yuan: 万/亿 on a Chinese page, thousands and millions on an English one.
  var ENGLISH = (document.documentElement.lang || "").indexOf("en") === 0;
  function short(fen) {
    var y = fen / 100;
    if (ENGLISH) {
      if (Math.abs(y) >= 1e9) { return (y / 1e9).toFixed(1) + "B"; }
      if (Math.abs(y) >= 1e6) { return (y / 1e6).toFixed(1) + "M"; }
      if (Math.abs(y) >= 1e3) { return (y / 1e3).toFixed(0) + "K"; }
      return y.toFixed(0);
    }
    if (Math.abs(y) >= 1e8) { return (y / 1e8).toFixed(1) + "亿"; }
    if (Math.abs(y) >= 1e4) { return (y / 1e4).toFixed(0) + "万"; }
    return y.toFixed(0);
  }
  function esc(text) {
    return String(text === undefined || text === null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c];
    });
  }
  // Tooltips are HTML: every name from the data is escaped.
  function tooltip(params) {
    var list = Array.isArray(params) ? params : [params];
    var head = esc(list.length ? (list[0].axisValueLabel || list[0].name) : "");
    var lines = list.filter(function (p) { return p.value !== null && p.value !== undefined; })
      .map(function (p) {
        var v = typeof p.value === "object" ? p.value.value : p.value;
        var label = p.seriesName || p.name;
        return p.marker + esc(label) + (label ? ": " : "") + "¥" + yuan(v) +
          (p.percent !== undefined ? " (" + p.percent + "%)" : "");
      });
    return [head].concat(lines).join("<br>");
  }
  // A company name on a narrow axis: without the city prefix and the legal-form suffix that
  // every name shares, so truncated names still differ (the tooltip shows the full name).
  function distinctive(name) {
    return String(name).replace(/^大连(市)?/, "")
      .replace(/(（[^）]*）)?(股份)?有限(责任)?公司$/, "").replace(/\s*(Co\.,? )?Ltd\.?$/i, "") || name;
  }
  var base = { color: PALETTE, textStyle: { fontFamily: "inherit" }, animationDuration: 400,
    tooltip: { trigger: "axis", formatter: tooltip, confine: true },
    grid: { left: 64, right: 24, top: 36, bottom: 32 } };
  function merge(extra) { return Object.assign({}, base, extra); }
  var money = { type: "value", axisLabel: { formatter: short }, splitLine: { lineStyle: { color: "#eef1f6" } } };

  function build(kind, d) {
    var L = d.labels;
    if (kind === "burndown") {
      return merge({ legend: { top: 0 },
        xAxis: { type: "category", data: d.burndown.x, boundaryGap: false },
        yAxis: money,
        series: [
          { name: L.remaining, type: "line", data: d.burndown.remaining, symbolSize: 6, lineStyle: { width: 3 }, areaStyle: { opacity: 0.08 } },
          { name: L.target, type: "line", data: d.burndown.target, symbol: "none", lineStyle: { type: "dashed", color: "#8a94a6" }, itemStyle: { color: "#8a94a6" } },
          { name: L.projected, type: "line", data: d.burndown.projected, connectNulls: true, symbol: "circle", lineStyle: { type: "dotted", color: "#c8102e" }, itemStyle: { color: "#c8102e" } }
        ] });
    }
    if (kind === "monthly") {
      return merge({ legend: { top: 0 },
        xAxis: { type: "category", data: d.months }, yAxis: money,
        series: [
          { name: L.issued, type: "bar", data: d.monthly.issued, barMaxWidth: 18 },
          { name: L.redeemed, type: "bar", data: d.monthly.redeemed, barMaxWidth: 18 },
          { name: L.paid, type: "bar", data: d.monthly.paid, barMaxWidth: 18 }
        ] });
    }
    if (kind === "top_enterprises" || kind === "top_providers") {
      var rows = d[kind].slice().reverse();
      return merge({ grid: { left: 8, right: 56, top: 8, bottom: 8, containLabel: true },
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: tooltip, confine: true },
        xAxis: Object.assign({}, money, { splitNumber: 3,
          axisLabel: { formatter: short, hideOverlap: true } }),
        yAxis: { type: "category", data: rows.map(function (r) { return r.name; }),
          axisLabel: { width: 150, overflow: "truncate", formatter: distinctive } },
        series: [{ name: L.redeemed, type: "bar", data: rows.map(function (r) { return r.value; }),
          barMaxWidth: 16, itemStyle: { color: kind === "top_enterprises" ? "#1a56db" : "#0f8a5f", borderRadius: [0, 4, 4, 0] },
          label: { show: true, position: "right", formatter: function (p) { return short(p.value); } } }] });
    }
    if (kind === "categories") {
      return merge({ tooltip: { trigger: "item", formatter: tooltip, confine: true },
        legend: { bottom: 0, type: "scroll" },
        series: [{ name: "", type: "pie", radius: ["42%", "68%"], center: ["50%", "45%"],
          data: d.categories, label: { formatter: "{b}\n{d}%" } }] });
    }
    return null;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("chart-data");
    if (!source || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.getAttribute("data-chart");
      var option = build(kind, data);
      var empty = option && option.series.every(function (s) {
        return !s.data || !s.data.some(function (v) { return v && (v.value || v) !== 0; });
      });
      if (!option || (kind !== "burndown" && empty)) {
        el.classList.add("chart-empty");
        el.textContent = "—";
        return;
      }
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option);
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  });
})();
