// A paced run is refused up front when its pace cannot fit in SIMULATOR_MAX_RUN_S: with `speed`
// (simulated seconds per real second) a run lasts its events' simulated span divided by speed,
// so {"events":2,"speed":1e-300} used to be accepted and then hold the simulator queue's only
// slot until the deadline.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { runParamsProblems } from '../../queues/simulator.ts';
import { simulate } from '../../src/simulator/journeys.ts';
import { catalogFromFile } from '../../src/simulator/catalog.ts';

const limits = loadConfig({}).simulator;

describe('pacing bounds of a run', () => {
  it('refuses a speed at which the run would outlast SIMULATOR_MAX_RUN_S, in one line that says what to do', () => {
    for (const speed of [1e-300, 0.000001, 0.01]) {
      const problems = runParamsProblems({ events: 2, seed: 1, speed }, limits);
      expect(problems, String(speed)).toHaveLength(1);
      expect(problems[0]).toMatch(/speed must be at least [\d.e+-]+ .*SIMULATOR_MAX_RUN_S=3600/);
      expect(problems[0]).not.toContain('\n');
    }
    // A day of users at speed 1 is a day; at 60 it is under half an hour.
    expect(runParamsProblems({ events: 1000, seed: 1, speed: 1 }, limits)).toHaveLength(1);
    expect(runParamsProblems({ events: 1000, seed: 1, speed: 60 }, limits)).toEqual([]);
    expect(runParamsProblems({ events: 2, seed: 1, speed: 1e6 }, limits)).toEqual([]);
    expect(runParamsProblems({ events: 2, seed: 1, speed: Number.POSITIVE_INFINITY }, limits)).toHaveLength(1);
  });

  it('refuses a run job that carries a live claim (live bursts are simulate:burst jobs, checked as such)', () => {
    const live = { world: { prefix: 'w1', seed: 42, rate: 1, genesis: 0 }, span: { from: 0, to: 1 } };
    expect(runParamsProblems({ events: 2, seed: 1, live } as never, limits).join()).toMatch(/live/);
  });

  it('the simulated span the check relies on does not depend on the catalog', () => {
    const full = catalogFromFile();
    const times = (catalog: typeof full) => [...simulate({ seed: 5, events: 3000, start: 0 }, catalog)].map((e) => e.time);
    expect(times([{ itemId: 'x', priceCents: 1, currency: 'USD' }])).toEqual(times(full));
  });
});
