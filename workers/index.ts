// BullMQ processors by queue; the worker role runs one BullMQ Worker for each.
import type { QueueProcessor } from './types.ts';
import { moviesProcessor } from './movies.processor.ts';
import { simulatorProcessor } from './simulator.processor.ts';
import { flushProcessor } from './flush.processor.ts';
import { warehouseProcessor } from './warehouse.processor.ts';

export type { QueueProcessor } from './types.ts';

export const processors: QueueProcessor[] = [moviesProcessor, simulatorProcessor, flushProcessor, warehouseProcessor];
