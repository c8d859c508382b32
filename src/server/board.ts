// Bull Board over every queue, mounted at /admin/queues inside the guarded /admin scope.
import type { FastifyInstance } from 'fastify';
import type { Queue } from 'bullmq';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';

export const BOARD_PATH = '/admin/queues';

/**
 * Bull Board routes that write caller-supplied data into jobs or change segpipe's concurrency
 * invariants (one flush at a time); the guard refuses them to everyone, token holders included.
 * Runs start through /api/runs, whose parameters are validated.
 */
export const REFUSED_BOARD_ROUTES: ReadonlySet<string> = new Set(
  [
    '/api/queues/:queueName/add',
    '/api/queues/:queueName/:jobId/update-data',
    '/api/queues/:queueName/job-schedulers/:schedulerId',
    '/api/queues/:queueName/concurrency',
  ].map((r) => BOARD_PATH + r),
);

/** Registers the board in `scope`, which is mounted at /admin. */
export async function registerBoard(scope: FastifyInstance, queues: Queue[]): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'segpipe', miscLinks: [{ text: 'Dashboard', url: '/dashboard' }, { text: 'Sign out', url: '/logout' }] } },
  });
  serverAdapter.setBasePath(BOARD_PATH);
  await scope.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH.slice('/admin'.length) });
}
