// Types for random.mjs (the one seeded PRNG and byte pattern).
export function mulberry32(seed: number): () => number;
export function patternBytes(seed: number, n: number): Buffer;
