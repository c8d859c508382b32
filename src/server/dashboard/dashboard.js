// Live charts over /api/metrics/*, refreshed every 5 s. Final windows are solid, open ones pale.
/* global Chart */
const REFRESH_MS = 5000;
const charts = {};
window.segpipeDashboard = { refreshes: 0, points: {} };

const label = (iso) => iso.slice(5, 16).replace('T', ' ');
const colors = (rows) => rows.map((r) => (r.is_final ? '#2f6fde' : '#9db9ef'));

function draw(id, type, labels, data, extra = {}) {
  window.segpipeDashboard.points[id] = data.length;
  if (charts[id]) {
    charts[id].data.labels = labels;
    charts[id].data.datasets[0].data = data;
    Object.assign(charts[id].data.datasets[0], extra);
    charts[id].update('none');
    return;
  }
  charts[id] = new Chart(document.getElementById(id), {
    type,
    data: { labels, datasets: [{ data, borderColor: '#2f6fde', backgroundColor: '#2f6fde', pointRadius: 0, ...extra }] },
    options: { animation: false, responsive: true, plugins: { legend: { display: false } }, indexAxis: type === 'bar' && id === 'sales' ? 'y' : 'x' },
  });
}

async function get(path) {
  const res = await fetch(path, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function refresh() {
  try {
    const [tumbling, sliding, sessions, sales] = await Promise.all([
      get('/api/metrics/registrations?type=tumbling_1h&limit=72'),
      get('/api/metrics/registrations?type=sliding_1h_15m&limit=288'),
      get('/api/metrics/sessions?limit=72'),
      get('/api/metrics/sales/top?limit=10'),
    ]);
    draw('tumbling', 'bar', tumbling.windows.map((w) => label(w.window_start)), tumbling.windows.map((w) => w.registration_count), { backgroundColor: colors(tumbling.windows) });
    draw('sliding', 'line', sliding.windows.map((w) => label(w.window_start)), sliding.windows.map((w) => w.registration_count));
    draw('active', 'line', sessions.windows.map((w) => label(w.window_start)), sessions.windows.map((w) => w.active_sessions_at_end));
    draw('duration', 'bar', sessions.windows.map((w) => label(w.window_start)), sessions.windows.map((w) => (w.avg_duration_s ?? 0) / 60), { backgroundColor: colors(sessions.windows) });
    draw('sales', 'bar', sales.movies.map((m) => m.title ?? m.movie_id), sales.movies.map((m) => m.total_sales_cents / 100));
    window.segpipeDashboard.refreshes++;
    document.getElementById('status').textContent = `updated ${new Date().toLocaleTimeString()} · solid bars are final windows`;
  } catch (err) {
    document.getElementById('status').textContent = `could not load metrics: ${err.message}`;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
