// Policy what-if page: the budget curve of each scenario against its pool, winners and losers,
// and sortable group tables. Amounts arrive in fen; ECharts is served locally.
(function () {
  "use strict";
  var PALETTE = ["#4b5565", "#1a56db", "#c8102e", "#0f8a5f", "#b26a00", "#6b46c1"];
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
  function curve(d) {
    var series = [];
    d.series.forEach(function (s, i) {
      series.push({ name: s.name, type: "line", data: s.values, symbol: "none", lineStyle: { width: i ? 2 : 3 } });
      series.push({ name: s.name + " · " + d.labels.pool, type: "line", symbol: "none",
        data: d.dates.map(function () { return s.pool; }), lineStyle: { type: "dashed", width: 1 } });
    });
    return { color: PALETTE, legend: { top: 0, type: "scroll" }, tooltip: { trigger: "axis", confine: true },
      grid: { left: 64, right: 24, top: 40, bottom: 32 },
      xAxis: { type: "category", data: d.dates, boundaryGap: false },
      yAxis: { type: "value", axisLabel: { formatter: short } }, series: series };
  }
  function buckets(d) {
    var colours = ["#c8102e", "#f28b82", "#8a94a6", "#81c995", "#0f8a5f"];
    return { legend: { top: 0 }, tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, confine: true },
      grid: { left: 64, right: 24, top: 40, bottom: 32 },
      xAxis: { type: "category", data: d.buckets.names }, yAxis: { type: "value", minInterval: 1 },
      series: d.buckets.keys.map(function (k, i) {
        return { name: k, type: "bar", stack: "all", data: d.buckets.values[i], itemStyle: { color: colours[i] } };
      }) };
  }
  function sortable(table) {
    table.querySelectorAll("button.sort").forEach(function (button) {
      button.addEventListener("click", function () {
        var col = +button.getAttribute("data-col"), num = button.hasAttribute("data-num");
        var asc = button.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("button.sort").forEach(function (b) { b.removeAttribute("aria-sort"); });
        button.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col], r;
          if (num) { r = (+(x.getAttribute("data-v") || 0)) - (+(y.getAttribute("data-v") || 0)); }
          else { r = x.textContent.localeCompare(y.textContent); }
          return asc ? r : -r;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table[data-sortable]").forEach(sortable);
    var source = document.getElementById("whatif-data");
    if (!source || !window.echarts) { return; }
    var data = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll("[data-whatif]").forEach(function (el) {
      var kind = el.getAttribute("data-whatif");
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(kind === "curve" ? curve(data) : buckets(data));
      el.setAttribute("data-ready", "1");
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  });
})();
