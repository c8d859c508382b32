// Bull Board over every queue, mounted at /admin/queues (behind the admin token).
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';

export const BOARD_PATH = '/admin/queues';

export async function registerBoard(app: FastifyInstance, queues: Queue[]): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter, options: { uiConfig: { boardTitle: 'segpipe' } } });
  serverAdapter.setBasePath(BOARD_PATH);
  await app.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
}
