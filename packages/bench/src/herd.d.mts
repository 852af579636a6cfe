// Types of herd.mjs, for the TypeScript test that shares it (test/herd.test.ts).
export interface HerdCounts {
  /** Per Worker: times the kernel woke its thread (voluntary context switches). */
  sleeps: number[];
  /** Per Worker: select() returns with the listener ready. */
  wakeups: number[];
  /** Per Worker: connections accepted. */
  accepted: number[];
  /** Per Worker: accept() calls that found nothing. */
  empty: number[];
}
export function herd(opts: { exclusive: boolean; workers: number; connections: number }): Promise<HerdCounts>;
