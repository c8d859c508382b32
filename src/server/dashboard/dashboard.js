// Live charts over /api/metrics/*, refreshed every 5 s. Final windows are solid, open ones pale.
/* global Chart */
const REFRESH_MS = 5000;
const charts = {};
window.segpipeDashboard = { refreshes: 0, points: {} };

// Event time in UTC with its year: a fast-forward simulation runs days ahead of the wall clock.
const label = (iso) => `${iso.slice(0, 16).replace('T', ' ')}`;
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
    options: {
      animation: false,
      responsive: true,
      plugins: { legend: { display: false } },
      indexAxis: type === 'bar' && id === 'sales' ? 'y' : 'x',
      // Counts start at 0, so a small change does not look like a big one.
      scales: id === 'sales' ? { x: { beginAtZero: true } } : { y: { beginAtZero: true } },
    },
  });
}

async function get(path) {
  const res = await fetch(path, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

const text = (v) => (v === null || v === undefined ? '—' : String(v));
function fill(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      for (const c of cells) {
        const td = document.createElement('td');
        if (c && typeof c === 'object') {
          td.textContent = c.text;
          td.className = c.cls;
        } else td.textContent = text(c);
        tr.append(td);
      }
      return tr;
    }),
  );
}

/** Health of each part, lag per topic, rows per table, jobs per queue: /health and /api/status. */
async function pipeline() {
  const health = await fetch('/health', { credentials: 'same-origin' }).then((r) => r.json());
  fill('health', Object.entries(health.checks).map(([name, c]) => [name, { text: c.status, cls: c.status }, `${c.latency_ms} ms`]));
  const status = await get('/api/status');
  fill('topics', Object.entries(status.topics).map(([topic, t]) => [topic, t.messages, t.loader_lag, t.stream_lag]));
  fill('tables', Object.entries(status.warehouse.tables).map(([table, t]) => [table, t.rows_loaded, t.last_load ? t.last_load.slice(0, 19).replace('T', ' ') : null]));
  fill('queues', Object.entries(status.queues).map(([queue, q]) => [queue, q.active, q.waiting, { text: text(q.failed), cls: q.failed > 0 ? 'down' : '' }]));
  window.segpipeDashboard.health = health.status;
}

/** Says how far the newest event time shown is from now: far ahead means a fast-forward simulation. */
function clock(windows) {
  const el = document.getElementById('clock');
  const newest = windows.length ? Date.parse(windows[windows.length - 1].window_end) : null;
  if (newest === null) {
    el.textContent = 'no registrations yet';
    return;
  }
  const days = (newest - Date.now()) / 86_400_000;
  const when = `event time up to ${label(new Date(newest).toISOString())} UTC`;
  el.className = Math.abs(days) > 1 ? 'ahead' : '';
  el.textContent =
    days > 1 ? `${when}: ${days.toFixed(1)} days ahead of now (a fast-forward simulation: hours of activity per burst)` : days < -1 ? `${when}: ${(-days).toFixed(1)} days behind now (a backfill or replay)` : `${when}: live`;
}

/**
 * Says which simulator mode produced the events shown: the runs whose event times overlap the
 * range, from the run log (/api/metrics/simulator), not from a setting.
 */
function mode(windows, runs) {
  const el = document.getElementById('mode');
  if (!windows.length) {
    el.textContent = '';
    return;
  }
  const from = Date.parse(windows[0].window_start);
  const to = Date.parse(windows[windows.length - 1].window_end);
  const shown = runs.filter((r) => r.first_event_at && Date.parse(r.first_event_at) < to && Date.parse(r.last_event_at) >= from);
  const modes = [...new Set(shown.map((r) => r.mode))].sort();
  const names = { live: 'live (wall-clock time)', 'fast-forward': 'fast-forward (simulated time)' };
  el.dataset.modes = modes.join(',');
  el.className = modes.includes('fast-forward') ? 'ahead' : '';
  el.textContent = modes.length
    ? `simulator: ${modes.map((m) => names[m] ?? m).join(' and ')}, ${shown.length} run${shown.length === 1 ? '' : 's'} in the range shown`
    : 'simulator: no recorded run in the range shown (events from another producer, or runs before this version)';
  window.segpipeDashboard.modes = modes;
}

async function refresh() {
  try {
    await pipeline().catch((err) => {
      document.getElementById('status').textContent = `pipeline health unavailable: ${err.message}`;
    });
    // Hours of event time to show (the API fills the empty windows of the range with 0).
    const hours = Number(document.getElementById('range').value);
    const [tumbling, sliding, sessions, sales, simulator] = await Promise.all([
      get(`/api/metrics/registrations?type=tumbling_1h&limit=${hours}`),
      get(`/api/metrics/registrations?type=sliding_1h_15m&limit=${hours * 4}`),
      get(`/api/metrics/sessions?limit=${hours}`),
      get('/api/metrics/sales/top?limit=10'),
      get('/api/metrics/simulator?limit=200'),
    ]);
    clock(tumbling.windows);
    mode(tumbling.windows, simulator.runs);
    draw('tumbling', 'bar', tumbling.windows.map((w) => label(w.window_start)), tumbling.windows.map((w) => w.registration_count), { backgroundColor: colors(tumbling.windows) });
    draw('sliding', 'line', sliding.windows.map((w) => label(w.window_start)), sliding.windows.map((w) => w.registration_count));
    // An hour's count at its end is known once it is over: the open hour shows the sessions open now.
    const active = sessions.windows.map((w, i) =>
      w.active_sessions_at_end === null && i === sessions.windows.length - 1 && sessions.open_now.at !== null ? sessions.open_now.count : w.active_sessions_at_end,
    );
    draw('active', 'line', sessions.windows.map((w) => label(w.window_start)), active, { pointRadius: active.length === 1 ? 4 : 0 });
    draw('duration', 'bar', sessions.windows.map((w) => label(w.window_start)), sessions.windows.map((w) => (w.avg_duration_s ?? 0) / 60), { backgroundColor: colors(sessions.windows) });
    draw('sales', 'bar', sales.movies.map((m) => m.title ?? m.movie_id), sales.movies.map((m) => m.total_sales_cents / 100));
    window.segpipeDashboard.refreshes++;
    document.getElementById('status').textContent = `updated ${new Date().toLocaleTimeString()} · solid bars are final windows`;
  } catch (err) {
    document.getElementById('status').textContent = `could not load metrics: ${err.message}`;
  }
}

document.getElementById('range').addEventListener('change', () => refresh());
refresh();
setInterval(refresh, REFRESH_MS);
