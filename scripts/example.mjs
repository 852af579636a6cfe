#!/usr/bin/env node
// Runs one of the course examples: `pnpm example NAME [flags...]` runs
// examples/NAME.mjs with the remaining flags, in this same process (so
// Ctrl-C and SIGTERM reach the example directly, and its ready line goes to
// stdout). Without a name, or with an unknown one, lists the examples and
// exits 1. The package.json script starts this file with `exec node ...`: the
// shell pnpm runs scripts in then becomes node, instead of a `sh` that Ctrl-C
// kills while the example is still cleaning up, which pnpm reports as a
// failure (ELIFECYCLE, exit 130) although the example exits 0.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const dir = fileURLToPath(new URL('../examples/', import.meta.url));
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.mjs'))
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();

// `pnpm example NAME -- --port 0` (the npm habit) passes the `--` along:
// drop it, before or after the name, so the example sees only its flags.
const argv = process.argv.slice(2);
if (argv[0] === '--') argv.shift();
if (argv[1] === '--') argv.splice(1, 1);
const [name, ...rest] = argv;
if (!name || !names.includes(name)) {
  if (name) console.error(`unknown example: ${name}`);
  console.error(`usage: pnpm example NAME [--backend select|poll|epoll|io_uring] [--port N] [flags...]`);
  console.error(`examples (see examples/README.md):\n${names.map((n) => `  ${n}`).join('\n')}`);
  process.exit(1);
}

const file = join(dir, `${name}.mjs`);
// The example reads its flags from process.argv, as if started as `node examples/NAME.mjs ...`.
process.argv = [process.argv[0], file, ...rest];
// Ctrl-C reaches the example twice under pnpm: from the terminal (the whole
// process group) and forwarded by pnpm itself. If the second lands while Node
// tears down after the example's clean shutdown (its signal handlers already
// closed), it kills the process, and pnpm reports the job as interrupted.
// So once an example whose main loop ended on a signal has returned, exit at
// once, with its status: there is nothing left to run. (Examples that return
// early and stop from event handlers, like echo-workers, are not affected.)
/** @type {NodeJS.Signals | null} */
let stopSignal = null;
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(sig, () => {
    stopSignal ??= sig;
    // An example that does not handle the signal must still die of it.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}
await import(pathToFileURL(file).href);
if (stopSignal !== null) process.exit();
