// The runs page's chart view: one chart per metric across the page's runs, in the
// table's order. A dot is a run's latest value; its whisker spans the run's min to max.
// (Dots, not bars: the y axis fits the values, so small differences between runs show.)
// The data is the page's own JSON data block (the metric summaries the table reads);
// charts are drawn as they scroll into view. Click a dot to open its run.
import { plotlyText, toNumber } from './app.js';
import { CONFIG } from './charts.js';

const data = JSON.parse(document.getElementById('runs-chart-data').textContent);
const runs = data.runs;
const LABEL_SPACE = 12; // px a rotated run name needs along the x axis

function shortName(name, limit = 18) {
  const text = String(name);
  return text.length > limit ? `${text.slice(0, limit - 1)}…` : text;
}

function draw(el, metric) {
  const latest = metric.latest.map(toNumber);
  const lows = metric.min.map(toNumber);
  const highs = metric.max.map(toNumber);
  const names = runs.map((r) => r.name || r.run_id);
  const xs = runs.map((_, i) => i);
  const hover = runs.map((_, i) => (latest[i] === null
    ? `${plotlyText(names[i])}<br>no ${plotlyText(metric.key)}`
    : `${plotlyText(names[i])}<br>latest ${latest[i]} (step ${metric.step[i]})<br>min ${lows[i]}, max ${highs[i]}, ${metric.count[i]} point(s)`));
  const trace = {
    type: 'scatter',
    mode: 'markers',
    x: xs,
    y: latest,
    customdata: xs,
    hovertext: hover,
    hoverinfo: 'text',
    marker: { color: '#1f77b4', size: 8 },
    error_y: {
      type: 'data',
      symmetric: false,
      array: latest.map((v, i) => (v === null || highs[i] === null ? null : highs[i] - v)),
      arrayminus: latest.map((v, i) => (v === null || lows[i] === null ? null : v - lows[i])),
      color: '#7f8ea3',
      thickness: 1.2,
      width: 4,
    },
  };
  // Names only where they fit side by side; otherwise hover tells the run.
  const labelled = runs.length * LABEL_SPACE <= el.clientWidth - 70;
  const layout = {
    margin: { l: 55, r: 10, t: 10, b: labelled ? 80 : 20 },
    xaxis: {
      tickvals: xs,
      ticktext: names.map((n) => plotlyText(shortName(n))),
      showticklabels: labelled,
      tickangle: -60,
      range: [-0.7, runs.length - 0.3],
      showgrid: false,
      zeroline: false,
      tickfont: { size: 10 },
      automargin: true,
      fixedrange: true,
    },
    yaxis: { automargin: true, zeroline: false },
    showlegend: false,
    hovermode: 'closest',
    paper_bgcolor: '#fff',
    plot_bgcolor: '#fff',
    font: { family: 'system-ui, sans-serif', size: 11 },
  };
  window.Plotly.react(el, [trace], layout, CONFIG);
  el.on('plotly_click', (event) => {
    const i = event.points?.[0]?.customdata;
    if (i !== undefined) window.location.assign(runs[i].url);
  });
  el.dataset.loaded = 'true';
  const drawn = document.querySelectorAll('.chart[data-run-chart][data-loaded="true"]').length;
  document.body.dataset.runCharts = String(drawn);
}

const charts = [...document.querySelectorAll('.chart[data-run-chart]')];
const seen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    seen.unobserve(entry.target);
    draw(entry.target, data.metrics[Number(entry.target.dataset.runChart)]);
  }
}, { rootMargin: '200px' });
for (const el of charts) seen.observe(el);
