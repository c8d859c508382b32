import { startAdminServer } from './test/helpers/admin-server.ts';
import { serveQueues } from './src/roles/worker.ts';
import { QUEUES } from './queues/names.ts';
import { ownTopicsEnv } from './test/helpers/stream.ts';
const TOKEN = 'lat-token-0123456789abcdef';
const s = await startAdminServer({ ...ownTopicsEnv('bp'), ADMIN_TOKEN: TOKEN, REDIS_URL: 'redis://127.0.0.1:16379/12' });
await s.ctx.redis.flushdb();
const workers = await serveQueues(s.ctx, [QUEUES.simulator]);
const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const { jobId } = JSON.parse((await s.request('POST', '/api/runs/simulator', { headers: auth, body: JSON.stringify({ events: 10_000_000 }) })).body);
for (let i = 0; i < 8; i++) {
  await new Promise(r => setTimeout(r, 1000));
  const r = JSON.parse((await s.request('GET', `/api/runs/simulator/${jobId}`, { headers: auth })).body);
  console.log(r.state, JSON.stringify(r.progress), r.failedReason);
}
await s.request('DELETE', `/api/runs/simulator/${jobId}`, { headers: auth });
for (const w of workers.values()) await w.close();
await s.close(); process.exit(0);
