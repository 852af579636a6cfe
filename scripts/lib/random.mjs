// The one seeded PRNG and byte pattern of the tests, the soak and the
// fixtures: the same seed gives the same numbers and bytes, so a failing run
// replays.

/**
 * mulberry32: a small seeded PRNG returning numbers in [0, 1).
 * @param {number} seed
 * @returns {() => number}
 */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` pseudo-random bytes (xorshift32) from `seed`: distinct seeds give
 * distinct streams, so data delivered to the wrong peer does not compare equal.
 * @param {number} seed
 * @param {number} n
 * @returns {Buffer}
 */
export function patternBytes(seed, n) {
  const b = Buffer.allocUnsafe(n);
  let x = (Math.imul(seed | 0, 0x9e3779b1) | 0) || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}
