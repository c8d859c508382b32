// Seeded randomness for simulations and generators: the same seed gives the same stream.
// mulberry32 is tiny and fast; faker (seeded too) only fills value pools up front.

export interface Rng {
  next(): number;
  int(min: number, max: number): number;
  pick<T>(xs: readonly T[]): T;
  /** Picks by weight from [value, weight] pairs. */
  weighted<T>(table: ReadonlyArray<readonly [T, number]>): T;
  /** Exponentially distributed with the given mean. */
  exp(mean: number): number;
  /** 32 random hex chars formatted as a UUID (version 4 layout). */
  uuid(): string;
}

export function rng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const hex8 = () => Math.floor(next() * 0x100000000).toString(16).padStart(8, '0');
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (xs) => xs[Math.floor(next() * xs.length)]!,
    weighted(table) {
      let total = 0;
      for (const [, w] of table) total += w;
      let u = next() * total;
      for (const [v, w] of table) {
        u -= w;
        if (u < 0) return v;
      }
      return table[table.length - 1]![0];
    },
    exp: (mean) => -Math.log(1 - next()) * mean,
    uuid() {
      const h = hex8() + hex8() + hex8() + hex8();
      return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[parseInt(h[16]!, 16) & 3]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
    },
  };
}
