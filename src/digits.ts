// Fixed-width decimal fields read without a regular expression (ISO times, catalog dates and
// running times arrive millions of times).

/** The number written by the n digits of s at `from`, -1 if any of them is not a digit. */
export function digitsAt(s: string, from: number, n: number): number {
  let x = 0;
  for (let i = from; i < from + n; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
}
