// Role `stream`: the Kafka consumer group that feeds Redis state and the warehouse outbox.
import type { AppContext } from '../context.ts';

export interface StreamComponent {
  start(ctx: AppContext): Promise<string>;
}

export const streamComponents: StreamComponent[] = [];

export async function startStream(ctx: AppContext): Promise<string> {
  const started: string[] = [];
  for (const c of streamComponents) started.push(await c.start(ctx));
  return started.length === 0 ? 'no consumers registered' : started.join(', ');
}
