// ESLint flat config. typescript-eslint's recommended rules without type
// information, so `eslint .` stays fast; tsc (`npm run typecheck`) does the typing.
// Correctness rules only: formatting and style are not linted.
import js from "@eslint/js";
import { defineConfig, globalIgnores } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  globalIgnores(["sdk/src/gen/", "server/src/gen/", "**/dist/", "**/node_modules/", ".chime/", "test-output/", "coverage/"]),
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      // Node globals for the plain .js files (TypeScript files are checked by tsc).
      globals: { process: "readonly", console: "readonly", URL: "readonly" },
    },
    rules: {
      // `_name` marks a parameter or binding that is unused on purpose.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
      // == null is a deliberate idiom; other loose comparisons are bugs waiting.
      eqeqeq: ["error", "smart"],
    },
  },
);
