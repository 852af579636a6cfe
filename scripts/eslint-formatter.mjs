// ESLint formatter for `pnpm lint`: one line per problem, `file:line:col rule
// message`, with the path relative to the repository root, so that a line can
// be pasted into an editor's "go to" and grepped by rule.
import { relative } from 'node:path';

/** @param {import('eslint').ESLint.LintResult[]} results */
export default function format(results) {
  const lines = [];
  for (const r of results) {
    const file = relative(process.cwd(), r.filePath);
    for (const m of r.messages) {
      const level = m.severity === 2 ? 'error' : 'warning';
      lines.push(`${file}:${m.line ?? 0}:${m.column ?? 0} ${m.ruleId ?? 'parse'} ${level}: ${m.message.replace(/\s*\n\s*/g, ' ')}`);
    }
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}
