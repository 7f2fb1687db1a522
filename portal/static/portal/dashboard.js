/* 统计分析: draws the dashboard's charts with the vendored Apache ECharts.
 * Every figure arrives computed (rates in %, the error rate in ‰, money as text) in the page's JSON
 * (#dash-data); this script only plots them, and the table beneath each chart holds the same numbers. */
(function () {
  "use strict";

  var source = document.getElementById("dash-data");
  if (!source || typeof window.echarts === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var L = data.labels;
  var COLORS = ["#0b5394", "#e69138", "#6aa84f", "#a64d79", "#45818e", "#cc0000"];

  // Plotting only: text figures become numbers for the axis; nothing is summed or rounded here.
  function plot(list) {
    return list.map(function (value) {
      return value === null || value === undefined ? null : Number(value);
    });
  }

  function percentAxis(name, floor) {
    // A target line is no data point: keep 100% in view, where targets and full coverage lie.
    return { type: "value", name: name, min: floor || 0,
      max: function (extent) { return Math.max(100, Math.ceil(extent.max)); } };
  }

  function targetLine(value, label, color, bare) {
    if (value === null || value === undefined) {
      return [];
    }
    return [{ yAxis: Number(value), name: label, lineStyle: { color: color || "#b3261e", type: "dashed" },
      label: { formatter: bare ? label : label + " " + value, position: "insideEndTop" } }];
  }

  // Rates of places lie close together (96%, 98%): start the axis a little below the lowest bar or line,
  // so the differences show, but at a round ten and never below zero.
  function axisFloor(lists) {
    var shown = [];
    lists.forEach(function (list) {
      plot(list).forEach(function (value) {
        if (value !== null && !isNaN(value)) {
          shown.push(value);
        }
      });
    });
    if (!shown.length) {
      return 0;
    }
    return Math.max(0, Math.floor((Math.min.apply(null, shown) - 5) / 10) * 10);
  }

  function base(extra) {
    var option = {
      animation: false,
      color: COLORS,
      grid: { left: 56, right: 56, top: 48, bottom: 48, containLabel: true },
      tooltip: { trigger: "axis" },
      legend: { top: 4 }
    };
    Object.keys(extra).forEach(function (key) { option[key] = extra[key]; });
    return option;
  }

  function categoryAxis(names, rotate) {
    return { type: "category", data: names, axisLabel: { interval: 0, rotate: rotate ? 30 : 0 } };
  }

  var places = data.places;
  var manyPlaces = places.names.length > 6;

  var builders = {
    coverage: function () {
      var marks = targetLine(data.coverage_target, L.target);
      if (data.coverage_region !== null) {
        marks = marks.concat([{ yAxis: Number(data.coverage_region), name: L.region_figure,
          lineStyle: { color: "#5f6b7a", type: "dotted" },
          label: { formatter: L.region_figure + " " + data.coverage_region, position: "insideStartTop" } }]);
      }
      return base({
        xAxis: categoryAxis(places.names, manyPlaces),
        yAxis: percentAxis(L.coverage,
          axisFloor([places.coverage, [data.coverage_region, data.coverage_target]])),
        series: [{ name: L.coverage, type: "bar", data: plot(places.coverage), barMaxWidth: 48,
          markLine: { symbol: "none", data: marks } }]
      });
    },
    renewal: function () {
      return base({
        xAxis: categoryAxis(places.names, manyPlaces),
        yAxis: percentAxis("%", axisFloor([places.young, places.old,
          [data.renewal_targets.young, data.renewal_targets.old]])),
        series: [
          { name: L.young, type: "bar", data: plot(places.young), barMaxWidth: 36,
            markLine: { symbol: "none", data: targetLine(data.renewal_targets.young, L.young_target, COLORS[0]) } },
          { name: L.old, type: "bar", data: plot(places.old), barMaxWidth: 36,
            markLine: { symbol: "none", data: targetLine(data.renewal_targets.old, L.old_target, COLORS[1]) } }
        ]
      });
    },
    trend: function () {
      return base({
        xAxis: categoryAxis(data.months, true),
        yAxis: [{ type: "value", name: L.people }, { type: "value", name: L.yuan }],
        series: [
          { name: L.new_members, type: "bar", data: plot(data.new_members), barMaxWidth: 32 },
          { name: L.contribution_income, type: "line", yAxisIndex: 1, data: plot(data.contribution_income) }
        ]
      });
    },
    payout: function () {
      return base({
        xAxis: categoryAxis(data.months, true),
        yAxis: [{ type: "value", name: L.people }, { type: "value", name: "%", min: 0 }],
        series: [
          { name: L.recipients, type: "bar", data: plot(data.recipients), barMaxWidth: 32 },
          { name: L.payout_rate, type: "line", yAxisIndex: 1, data: plot(data.payout_rate), connectNulls: false,
            markLine: { symbol: "none", data: targetLine(data.payout_target, L.target) } }
        ]
      });
    },
    pensions: function () {
      return base({
        xAxis: categoryAxis(data.months, true),
        yAxis: { type: "value", name: L.yuan },
        series: [
          { name: L.basic_pension, type: "bar", stack: "pension", data: plot(data.basic_pension), barMaxWidth: 32 },
          { name: L.account_pension, type: "bar", stack: "pension", data: plot(data.account_pension), barMaxWidth: 32 }
        ]
      });
    },
    errors: function () {
      return base({
        xAxis: categoryAxis(data.months, true),
        yAxis: [{ type: "value", name: "‰", min: 0 }, { type: "value", name: L.overdue, minInterval: 1 }],
        series: [
          { name: L.error_rate, type: "line", data: plot(data.error_rate),
            markLine: { symbol: "none", data: targetLine(data.error_limit, L.error_limit, null, true) } },
          { name: L.overdue, type: "bar", yAxisIndex: 1, data: plot(data.overdue), barMaxWidth: 32 }
        ]
      });
    },
    funds: function () {
      return base({
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        xAxis: categoryAxis(data.funds.regions, false),
        yAxis: { type: "value", name: L.yuan },
        series: data.funds.accounts.map(function (account) {
          return { name: account.name, type: "bar", data: plot(account.data), barMaxWidth: 40 };
        })
      });
    }
  };

  var drawn = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var build = builders[el.getAttribute("data-chart")];
    if (!build) {
      return;
    }
    var chart = window.echarts.init(el, null, { renderer: "canvas" });
    chart.setOption(build());
    // Drill down from a bar of the children's charts, like the links in the table.
    if (el.getAttribute("data-chart") === "coverage" || el.getAttribute("data-chart") === "renewal") {
      chart.on("click", function (params) {
        // A click on a markLine (the target or the region's own line) carries a dataIndex too: only bars drill.
        if (params.componentType !== "series") {
          return;
        }
        var href = places.links[params.dataIndex];
        if (href) {
          window.location.href = href;
        }
      });
    }
    drawn.push(chart);
  });
  window.addEventListener("resize", function () {
    drawn.forEach(function (chart) { chart.resize(); });
  });
})();
