// Child-process plumbing for the benchmark harness, on the project's one
// supervisor (scripts/lib/child.mjs): every process it starts is tracked and
// stopped, on success, on error and on Ctrl-C.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { killAll, killChildrenOnSignals, runChild, startServer as startChildServer } from '../../../scripts/lib/child.mjs';

export { killAll };

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SRC = fileURLToPath(new URL('./', import.meta.url));
export const BIN = process.env.IOMUX_BENCH_BIN ?? fileURLToPath(new URL('../../native/build/Release/', import.meta.url));

export function binPath(name) {
  const p = BIN + name;
  if (!existsSync(p)) {
    throw new Error(`${p} is missing: build the C programs with \`pnpm build:native\` (they come from the root CMakeLists.txt)`);
  }
  return p;
}

killChildrenOnSignals('bench');

/**
 * Runs a program to completion; resolves {code, stdout, stderr}. Killed after timeoutMs.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ timeoutMs?: number, env?: NodeJS.ProcessEnv }} [options] env: the child's whole environment (default: ours)
 */
export async function runProgram(cmd, args, { timeoutMs = 120_000, env = undefined } = {}) {
  const r = await runChild(cmd, args, { timeoutMs, env });
  if (r.code === null && r.signal === null) throw new Error(`${cmd}: could not start: ${r.stderr.trim()}`);
  return {
    code: r.code ?? (r.signal ? 128 : 1),
    stdout: r.stdout,
    stderr: r.timedOut ? `${r.stderr}\n[bench] killed after ${timeoutMs} ms` : r.stderr,
  };
}

/**
 * Starts a server that prints the ready line ("listening on HOST:PORT
 * backend=B") and exits at stdin EOF. Resolves {port, pid, stop(), stderr()};
 * stop() closes stdin, then SIGTERMs, then SIGKILLs.
 */
export async function startServer(cmd, args, { timeoutMs = 10_000 } = {}) {
  const srv = await startChildServer(cmd, args, { stdin: 'pipe', readyTimeoutMs: timeoutMs });
  const stop = async () => {
    srv.child.stdin?.end();
    await srv.stop('SIGTERM', 2000);
  };
  return { port: srv.port, pid: srv.pid, stop, stderr: srv.stderr };
}
