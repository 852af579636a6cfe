// ESLint over the whole repository, type-aware (`pnpm lint`, or
// `pnpm lint eslint` for this check alone).
//
// Every file is parsed by typescript-eslint with type information (the
// project service finds the nearest tsconfig.json: packages/core for the
// library, test/ for the suite, and the checkJs configs of examples/,
// scripts/, packages/bench and packages/native), so the promise rules see
// real types in the .mjs files too.
//
// What is enforced, and why:
// - no-floating-promises / no-misused-promises: a promise nobody awaits
//   loses its rejection (an unhandled rejection kills the process, or a test
//   "passes" before its assertion runs); an async callback where a void one is
//   expected (an event handler, a forEach) does the same.
// - no-unsafe-finally: a `return`/`throw`/`break` in `finally` swallows the
//   exception of the `try` block — it once hid every failure of a test.
// - @typescript-eslint/no-unused-vars (in .ts and .mjs alike): dead
//   variables, imports and parameters, unless named with a leading `_`.
// - no-explicit-any and the no-unsafe-* family (TypeScript only): no `any`
//   leaks out of a typed value. In .mjs files every unannotated parameter is
//   `any` by design (see tsconfig.js.json), so these would fire on every line.
// - the rest of eslint:recommended and typescript-eslint's
//   recommended-type-checked, minus the few rules turned off below, each with
//   its reason.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const unusedVars = [
  'error',
  {
    args: 'after-used',
    argsIgnorePattern: '^_',
    varsIgnorePattern: '^_',
    caughtErrors: 'all',
    caughtErrorsIgnorePattern: '^_',
    destructuredArrayIgnorePattern: '^_',
    ignoreRestSiblings: true,
  },
];

export default defineConfig(
  {
    ignores: [
      '**/node_modules/**',
      '**/build/**',
      '**/dist/**',
      'docs/api/**',
      'bench-results/**',
      // Third-party sources vendored under packages/native, if any.
      'packages/native/deps/**',
      // Hand-written declarations (index.d.cts, scripts/lib/*.d.mts): they
      // hold no code for these rules to find, and tsc checks them against
      // their users.
      '**/*.d.ts',
      '**/*.d.mts',
      '**/*.d.cts',
    ],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
      parser: tseslint.parser,
      parserOptions: {
        projectService: {
          // Config files at the root belong to no tsconfig: a default
          // program covers them.
          allowDefaultProject: ['*.js'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
  },

  // Every file, JavaScript or TypeScript.
  js.configs.recommended,
  {
    rules: {
      'no-unsafe-finally': 'error',
      'no-unused-vars': 'off',
      '@typescript-eslint/no-unused-vars': unusedVars,
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-await': 'off', // an async function without await is how a sync result is made a promise (the API contract's wait()); no bug behind it
      'no-control-regex': 'off', // the ANSI-stripping regexes match \x1b on purpose
      'no-empty': ['error', { allowEmptyCatch: true }], // `catch {}` is the idiom for best-effort cleanup (closing an fd that may already be closed)
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
  },

  // TypeScript: the type-checked recommended set, which adds the any-leak rules.
  {
    files: ['**/*.ts', '**/*.cts', '**/*.mts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    rules: {
      'no-undef': 'off', // tsc checks names, and knows the types-only globals ESLint does not
      '@typescript-eslint/no-unused-vars': unusedVars,
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
      '@typescript-eslint/require-await': 'off', // as above
      // Passing on a caught value (`catch (err) { return Promise.reject(err) }`)
      // forwards whatever was thrown; only a new non-Error rejection is a bug.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
);
