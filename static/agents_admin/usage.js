// The usage charts (Chart.js, vendored): data from the page's escaped data-usage attribute (no inline script); a
// click on a bar or point opens the runs it counted. Series differ by pattern, dash and point shape as well as
// colour, and every chart has a table of the same numbers below it.
function drawUsageCharts() {
  const source = document.getElementById("usage-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.dataset.usage);
  const labels = data.points.map((p) => p.label);
  const STATUS = [
    ["completed", "#1a7f37", "solid"],
    ["failed", "#cf222e", "diagonal"],
    ["cancelled", "#6e7781", "dots"],
    ["expired", "#9a6700", "cross"],
    ["incomplete", "#8250df", "vertical"],
  ];

  // A fill that tells series apart without colour: stripes, dots or cross-hatching over the colour.
  function pattern(color, kind) {
    if (kind === "solid") return color;
    const tile = document.createElement("canvas");
    tile.width = tile.height = 8;
    const ctx = tile.getContext("2d");
    ctx.fillStyle = color;
    ctx.fillRect(0, 0, 8, 8);
    ctx.strokeStyle = "rgba(255,255,255,0.85)";
    ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    if (kind === "diagonal") { ctx.moveTo(0, 8); ctx.lineTo(8, 0); }
    if (kind === "vertical") { ctx.moveTo(4, 0); ctx.lineTo(4, 8); }
    if (kind === "cross") { ctx.moveTo(0, 0); ctx.lineTo(8, 8); ctx.moveTo(8, 0); ctx.lineTo(0, 8); }
    ctx.stroke();
    if (kind === "dots") { ctx.beginPath(); ctx.arc(4, 4, 1.6, 0, 2 * Math.PI); ctx.fill(); }
    return ctx.createPattern(tile, "repeat");
  }

  function open(url) {
    if (url) window.location.assign(url);
  }

  function chart(name, config, urlOf) {
    const canvas = document.querySelector(`canvas[data-chart="${name}"]`);
    if (!canvas || canvas.dataset.drawn) return;
    config.options = Object.assign({
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "nearest", intersect: true },
      plugins: { legend: { labels: { usePointStyle: true } } },
      onHover: (event, elements) => { event.native.target.style.cursor = elements.length ? "pointer" : "default"; },
      onClick: (event, elements) => {
        if (!elements.length) return;
        const element = elements[0];
        open(urlOf(element.index, element.datasetIndex));
      },
    }, config.options || {});
    const instance = new Chart(canvas, config);
    canvas.dataset.drawn = "true";
    canvas.chart = instance;
  }

  chart("runs", {
    type: "bar",
    data: {
      labels,
      datasets: STATUS.map(([status, color, kind]) => ({
        label: status,
        data: data.points.map((p) => p.runs[status]),
        backgroundColor: pattern(color, kind),
        borderColor: color,
        borderWidth: 1,
        pointStyle: "rect",
      })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "runs" } } } },
  }, (i, d) => `${data.points[i].runs_url}&status=${STATUS[d][0]}`);

  chart("tokens", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "prompt (in)", data: data.points.map((p) => p.prompt_tokens), backgroundColor: "#0969da", pointStyle: "rect" },
        { label: "completion (out)", data: data.points.map((p) => p.completion_tokens), backgroundColor: pattern("#bf8700", "diagonal"), borderColor: "#bf8700", borderWidth: 1, pointStyle: "triangle" },
      ],
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "tokens" } } } },
  }, (i) => data.points[i].runs_url);

  const seconds = (ms) => (ms === null ? null : ms / 1000);
  chart("latency", {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "p50", data: data.points.map((p) => seconds(p.latency_p50_ms)), borderColor: "#0969da", backgroundColor: "#0969da", pointStyle: "circle", pointRadius: 4, spanGaps: true },
        { label: "p95", data: data.points.map((p) => seconds(p.latency_p95_ms)), borderColor: "#cf222e", backgroundColor: "#cf222e", borderDash: [6, 4], pointStyle: "triangle", pointRadius: 5, spanGaps: true },
      ],
    },
    options: { interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true, title: { display: true, text: "seconds (bucket bound)" } } } },
  }, (i) => `${data.points[i].runs_url}&status=completed`);

  chart("errors", {
    type: "line",
    data: {
      labels,
      datasets: [{ label: "failed share of finished runs (%)", data: data.points.map((p) => (p.error_rate === null ? null : p.error_rate * 100)), borderColor: "#cf222e", backgroundColor: "#cf222e", pointStyle: "rectRot", pointRadius: 4, spanGaps: true }],
    },
    options: { interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true, title: { display: true, text: "%" } } } },
  }, (i) => `${data.points[i].runs_url}&status=failed`);

  const KINDS = ["solid", "diagonal", "dots", "cross"];
  chart("cost", {
    type: "bar",
    data: {
      labels,
      datasets: data.currencies.map((currency, n) => ({
        label: currency,
        data: data.points.map((p) => p.cost[currency] || 0),
        backgroundColor: pattern(["#1a7f37", "#0969da", "#8250df", "#bf8700"][n % 4], KINDS[n % 4]),
        pointStyle: "rect",
      })),
    },
    options: { scales: { y: { beginAtZero: true, title: { display: true, text: "cost" } } } },
  }, (i) => data.points[i].runs_url);

  chart("breakdown", {
    type: "bar",
    data: {
      labels: data.breakdown.map((b) => b.label),
      datasets: [
        { label: "finished runs", data: data.breakdown.map((b) => b.runs - b.failed), backgroundColor: "#1a7f37", pointStyle: "rect" },
        { label: "failed", data: data.breakdown.map((b) => b.failed), backgroundColor: pattern("#cf222e", "diagonal"), borderColor: "#cf222e", borderWidth: 1, pointStyle: "rect" },
      ],
    },
    options: { indexAxis: "y", scales: { x: { stacked: true, beginAtZero: true }, y: { stacked: true } } },
  }, (i, d) => data.breakdown[i].runs_url + (d === 1 ? "&status=failed" : ""));
}

drawUsageCharts();
// The home page's glance is swapped by htmx while runs are live: draw the new canvas.
document.addEventListener("htmx:afterSettle", drawUsageCharts);
