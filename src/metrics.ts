// One Prometheus registry per process; modules add their own metrics to it.
import { Registry, collectDefaultMetrics } from 'prom-client';

export const metrics = new Registry();
metrics.setDefaultLabels({ app: 'segpipe' });
collectDefaultMetrics({ register: metrics, prefix: 'segpipe_' });
