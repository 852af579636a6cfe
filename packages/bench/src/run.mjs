// Child-process plumbing for the benchmark harness: every process it starts
// is tracked and stopped, on success, on error and on Ctrl-C.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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

const live = new Set();

export function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killAll();
    process.stderr.write(`\nbench: stopped by ${sig}; every child process was killed\n`);
    process.exit(130);
  });
}
process.on('exit', killAll);

/** Runs a program to completion; resolves {code, stdout, stderr}. Killed after timeoutMs. */
export function runProgram(cmd, args, { timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[bench] killed after ${timeoutMs} ms`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/**
 * Starts a server that prints "PORT <n>" and exits at stdin EOF. Resolves
 * {port, pid, stop()}; stop() closes stdin, then SIGTERMs, then SIGKILLs.
 */
export function startServer(cmd, args, { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    live.add(child);
    let out = '';
    let err = '';
    let exited = false;
    const exit = new Promise(/** @param {(v?: unknown) => void} r */ (r) => child.on('close', () => { exited = true; live.delete(child); r(); }));
    const stop = async () => {
      if (exited) return;
      child.stdin.end();
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exit;
      clearTimeout(t);
    };
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${cmd} ${args.join(' ')} printed no port within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')} exited (${code}) before printing a port: ${err.trim()}`));
    });
    child.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), pid: child.pid, stop, stderr: () => err });
      }
    });
  });
}
