// The `--name value` flags of the benchmark's child scripts (dispatch, wait,
// overhead); cli.mjs, the user-facing command, parses its own.
const argv = process.argv.slice(2);

/** The value after `--name`, or `dflt` when the flag is absent. */
export function opt(name, dflt) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
}

/** True when the bare flag `--name` is present. */
export function has(name) {
  return argv.includes(name);
}
