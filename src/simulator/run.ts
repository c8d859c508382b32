// A simulation run: journeys from the catalog, produced through the one event producer, paced
// to the wall clock when asked (speed = simulated seconds per real second; rate = events/s cap).
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppContext } from '../context.ts';
import type { DomainEvent } from '../events/model.ts';
import type { EventProducer } from '../events/producer.ts';
import { loadCatalog } from './catalog.ts';
import { simulate } from './journeys.ts';

export interface RunParams {
  events: number;
  seed: number;
  users?: number;
  /** Simulated start, epoch ms; default now. */
  start?: number;
  /** Simulated seconds per real second; 0 or absent = as fast as possible. */
  speed?: number;
  /** Upper bound on events per second; absent = none. */
  rate?: number;
  userPrefix?: string;
}

export interface RunResult {
  events: number;
  durationMs: number;
  eventsPerSecond: number;
  firstEventAt: string | null;
  lastEventAt: string | null;
  catalogItems: number;
  catalogSource: string;
}

export async function runSimulation(ctx: AppContext, producer: EventProducer, params: RunParams, onProgress: (sent: number) => void = () => undefined): Promise<RunResult> {
  const { items, source } = await loadCatalog(ctx.redis);
  const start = params.start ?? Date.now();
  const journeys = simulate({ seed: params.seed, events: params.events, users: params.users, start, userPrefix: params.userPrefix }, items);
  let first: number | undefined;
  let last: number | undefined;
  let taken = 0;
  const wallStart = performance.now();
  const paced = params.speed || params.rate;
  const pace = (e: DomainEvent): Promise<void> | undefined => {
    first ??= e.time;
    last = e.time;
    taken++;
    if (!paced) return undefined;
    const dueBySpeed = params.speed ? (e.time - start) / params.speed : 0;
    const dueByRate = params.rate ? (1000 * (taken - 1)) / params.rate : 0;
    const wait = Math.max(dueBySpeed, dueByRate) - (performance.now() - wallStart);
    return wait > 1 ? sleep(wait) : undefined;
  };
  const sent = await producer.send(journeys, { pace, onProgress });
  const durationMs = performance.now() - wallStart;
  return {
    events: sent,
    durationMs: Math.round(durationMs),
    eventsPerSecond: Math.round(sent / (durationMs / 1000)),
    firstEventAt: first === undefined ? null : new Date(first).toISOString(),
    lastEventAt: last === undefined ? null : new Date(last).toISOString(),
    catalogItems: items.length,
    catalogSource: source,
  };
}
