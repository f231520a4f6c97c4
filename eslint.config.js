import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.gatehouse/**'] },
  {
    files: ['scripts/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // The domain core knows nothing of drivers, transports or the CLI: dependencies point inward.
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/store/**',
                '**/cli/**',
                '**/http/**',
                '**/connectors/**',
                '**/config/**',
                '**/demo/**',
              ],
              message: 'src/core must not import adapters',
            },
            {
              group: ['pg', '@electric-sql/*', 'fastify', 'yaml', 'csv-parse'],
              message: 'src/core must not import drivers or transports',
            },
          ],
        },
      ],
    },
  },
);
