// Types for child.mjs (the one child-process supervisor), for the TypeScript tests.
import type { ChildProcess } from 'node:child_process';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** 'pipe' for servers that exit at stdin EOF; default 'ignore'. */
  stdin?: 'ignore' | 'pipe';
  /** How long startServer() waits for the ready line; default 15 s. */
  readyTimeoutMs?: number;
  /** The child leads its own process group, and every signal goes to the whole group (a server run through a shell or pnpm). */
  detached?: boolean;
}

export interface Child {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once the child exited and its output is drained. */
  exited: Promise<Exit>;
  running(): boolean;
  /** Signals the child (its process group when detached); never throws. */
  kill(signal: NodeJS.Signals): void;
  /** Sends `signal` (default SIGINT), SIGKILLs after `graceMs` (default 10 s), resolves with how it ended. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
  /** The child's open fds, each with its link target; empty once it is gone. */
  fds(): Map<number, string>;
  fdCount(): number;
  rssMiB(): number;
  cpuSec(): number;
}

export interface Server extends Child {
  host: string;
  port: number;
  backend: string;
}

export const READY_LINE: RegExp;
export function killAll(): void;
export function liveCount(): number;
export function killChildrenOnSignals(who: string): void;
export function spawnChild(cmd: string, args: string[], opts?: StartOptions): Child;
export function procFds(pid: number | 'self'): Map<number, string>;
export function newFds(before: ReadonlyMap<number, string>, after: ReadonlyMap<number, string>): Map<number, string>;
export function startServer(cmd: string, args: string[], opts?: StartOptions): Promise<Server>;
export function runChild(
  cmd: string,
  args: string[],
  opts?: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number },
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; timedOut: boolean }>;
