// ISO 8601 UTC text for event times. Simulated events are minted by the hundred thousand per
// second and Date#toISOString costs more than the rest of a small event, so the date part is
// cached per day and the time of day is assembled from lookup tables.
const DAY = 86_400_000;
/** Years 0000–9999 have the fixed-width form; outside it toISOString is used as is. */
const MAX_FIXED = 253_402_300_800_000;
const PAD = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

let cachedDay = Number.NaN;
let cachedPrefix = '';

export function isoUtc(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= MAX_FIXED) return new Date(ms).toISOString();
  let inDay = ms - cachedDay;
  if (!(inDay >= 0 && inDay < DAY)) {
    cachedDay = ms - (ms % DAY);
    cachedPrefix = new Date(cachedDay).toISOString().slice(0, 11);
    inDay = ms - cachedDay;
  }
  const h = Math.floor(inDay / 3_600_000);
  const m = Math.floor(inDay / 60_000) % 60;
  const s = Math.floor(inDay / 1000) % 60;
  return `${cachedPrefix}${PAD[h]!.slice(1)}:${PAD[m]!.slice(1)}:${PAD[s]!.slice(1)}.${PAD[inDay % 1000]}Z`;
}
