/* The admin dashboard's charts (Chart.js, vendored), drawn from the JSON the page embeds. */
(function () {
  "use strict";
  var source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);

  function bucketLabel(iso) {
    var t = iso.replace("T", " ").replace("Z", "");
    if (data.bucket === "minute") { return t.slice(11, 16); }
    if (data.bucket === "hour") { return t.slice(5, 13) + "h"; }
    return t.slice(0, 10);
  }
  function series(key) { return data.throughput.map(function (p) { return Number(p[key]); }); }
  var base = { animation: false, responsive: true, maintainAspectRatio: false };
  var labels = data.throughput.map(function (p) { return bucketLabel(p.bucket); });
  var types = data.by_task_type.map(function (t) { return t.task_type; });

  new Chart(document.getElementById("chart-throughput"), {
    type: "bar",
    data: { labels: labels, datasets: [
      { label: "completed", data: series("completed"), backgroundColor: "#2e7d32" },
      { label: "failed", data: series("failed"), backgroundColor: "#c62828" },
      { label: "cancelled", data: series("cancelled"), backgroundColor: "#9e9e9e" }] },
    options: Object.assign({ scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } }, base)
  });
  new Chart(document.getElementById("chart-success-rate"), {
    type: "line",
    data: { labels: labels, datasets: [{
      label: "success rate", borderColor: "#1565c0", backgroundColor: "#1565c0", spanGaps: true,
      data: data.throughput.map(function (p) {
        var finished = p.completed + p.failed;
        return finished ? Math.round(1000 * p.completed / finished) / 10 : null;
      }) }] },
    options: Object.assign({ scales: { y: { min: 0, max: 100 } } }, base)
  });
  new Chart(document.getElementById("chart-duration"), {
    type: "bar",
    data: { labels: types, datasets: [
      { label: "p50", backgroundColor: "#90caf9",
        data: data.by_task_type.map(function (t) { return t.execution_time_ms.p50; }) },
      { label: "p95", backgroundColor: "#1565c0",
        data: data.by_task_type.map(function (t) { return t.execution_time_ms.p95; }) }] },
    options: Object.assign({ scales: { y: { beginAtZero: true } } }, base)
  });
  new Chart(document.getElementById("chart-cost"), {
    type: "bar",
    data: { labels: types, datasets: [{ label: "cost (USD)", backgroundColor: "#ef6c00",
      data: data.by_task_type.map(function (t) { return Number(t.cost_usd); }) }] },
    options: Object.assign({ scales: { y: { beginAtZero: true } } }, base)
  });
}());
