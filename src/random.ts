// Seeded randomness for simulations and generators: the same seed gives the same stream.
// mulberry32 is tiny and fast; faker (seeded too) only fills value pools up front.
import { createHash } from 'node:crypto';

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

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** mulberry32: 32 bits of state, for draws where only the distribution matters. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return fromWords(() => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  });
}

/**
 * xoshiro128** seeded from SHA-256 of `key`: 128 bits of state, for identifiers. With 32 bits of
 * state every seed walks one shared cycle of 2^32 draws, so two runs' id streams overlap as soon
 * as their starting points are a few thousand draws apart (runs shared event ids that way).
 */
export function idRng(key: string): Rng {
  const h = createHash('sha256').update(key).digest();
  return fromWords(xoshiro128ss([h.readUInt32BE(0), h.readUInt32BE(4), h.readUInt32BE(8), h.readUInt32BE(12)]));
}

/**
 * xoshiro128** from 128 bits of state drawn elsewhere (another xoshiro stream), without hashing
 * a key: the live world starts one per journey, tens of thousands a burst, so it is a class
 * (no closures to allocate) giving the same draws as fromWords(xoshiro128ss(state)).
 */
export const stateRng = (state: readonly [number, number, number, number]): Rng => new Xoshiro128(state);

class Xoshiro128 implements Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(state: readonly [number, number, number, number]) {
    [this.s0, this.s1, this.s2, this.s3] = state;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }
  private word(): number {
    const s1 = this.s1;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
  next(): number {
    return this.word() / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  weighted<T>(table: ReadonlyArray<readonly [T, number]>): T {
    let total = 0;
    for (const [, w] of table) total += w;
    let u = this.next() * total;
    for (const [v, w] of table) {
      u -= w;
      if (u < 0) return v;
    }
    return table[table.length - 1]![0];
  }
  exp(mean: number): number {
    return -Math.log(1 - this.next()) * mean;
  }
  uuid(): string {
    return formatUuid(this.word(), this.word(), this.word(), this.word());
  }
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/** xoshiro128** (Blackman and Vigna) from a 128-bit state: a source of uniform 32-bit words. */
export function xoshiro128ss(state: readonly [number, number, number, number]): () => number {
  let [s0, s1, s2, s3] = state;
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is the generator's one fixed point
  const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));
  return () => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
}

/** The draws every generator offers, from a source of uniform 32-bit words. */
function fromWords(word: () => number): Rng {
  const next = () => word() / 4294967296;
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
    uuid: () => formatUuid(word(), word(), word(), word()),
  };
}

/** Four 32-bit words as a UUID (version 4 layout), by byte table: toString(16) and slices cost more than the rest of an event. */
function formatUuid(a: number, b: number, c: number, d: number): string {
  return (
    HEX[a >>> 24]! + HEX[(a >>> 16) & 255]! + HEX[(a >>> 8) & 255]! + HEX[a & 255]! + '-' +
    HEX[b >>> 24]! + HEX[(b >>> 16) & 255]! + '-4' + HEX[(b >>> 8) & 15]!.slice(1) + HEX[b & 255]! + '-' +
    '89ab'[(c >>> 28) & 3]! + HEX[(c >>> 24) & 15]!.slice(1) + HEX[(c >>> 16) & 255]! + '-' +
    HEX[(c >>> 8) & 255]! + HEX[c & 255]! + HEX[d >>> 24]! + HEX[(d >>> 16) & 255]! + HEX[(d >>> 8) & 255]! + HEX[d & 255]!
  );
}
