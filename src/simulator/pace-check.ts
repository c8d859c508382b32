// How long a paced run must last, known before it starts, so a run that cannot finish within
// SIMULATOR_MAX_RUN_S is refused instead of holding the simulator queue's only slot until its
// deadline. `rate` is plain arithmetic (events / rate). `speed` (simulated seconds per real
// second) makes a run last its events' simulated span / speed, and the span is found by
// generating the journeys' times: a run's first SAMPLE_EVENTS events span no more than the whole
// run, so what they need is a lower bound (exact for runs up to that size). A longer run paced
// slower than its whole span allows is still stopped at the deadline (`max_duration`).
import { simulate, type SimulationParams } from './journeys.ts';

/** Events generated to measure a span: about 80 ms, on the thread that validates the run. */
export const SAMPLE_EVENTS = 20_000;

/**
 * Journey times do not depend on the catalog (every pick draws the same random numbers whatever
 * the items are; unit-tested), so one stand-in item measures any run without reading Redis.
 */
const STAND_IN = [{ itemId: 'pace-check', priceCents: 100, currency: 'USD' }];

/** Simulated ms from a run's first event to the last of its first SAMPLE_EVENTS. */
export function sampledSpanMs(params: Pick<SimulationParams, 'seed' | 'events' | 'users'>): { spanMs: number; events: number } {
  let first: number | undefined;
  let last = 0;
  let events = 0;
  // The run's own events and users: the user count (default events / 25) sets the arrival pace.
  for (const e of simulate({ ...params, start: 0 }, STAND_IN)) {
    first ??= e.time;
    last = e.time;
    if (++events >= SAMPLE_EVENTS) break;
  }
  return { spanMs: first === undefined ? 0 : last - first, events };
}

/** Why `speed` cannot fit the run in maxRunSeconds, or null. */
export function speedProblem(params: Pick<SimulationParams, 'seed' | 'events' | 'users'>, speed: number, maxRunSeconds: number): string | null {
  const { spanMs, events } = sampledSpanMs(params);
  if (spanMs / speed <= maxRunSeconds * 1000) return null;
  const least = spanMs / (maxRunSeconds * 1000);
  const what = events < params.events ? `its first ${events} events span` : `its ${events} events span`;
  return `speed must be at least ${least.toPrecision(3)} for this run: ${what} ${Math.round(spanMs / 1000)} simulated seconds, which at speed ${speed} take longer than a run may last (SIMULATOR_MAX_RUN_S=${maxRunSeconds}); raise speed, or leave it out to run as fast as possible`;
}
