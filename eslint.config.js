// ESLint (flat config) for the JavaScript of the repository: the page's ES modules
// (chat/static/chat, notify/static/notify), the service worker and the Node unit tests
// (tests/js). `npx eslint .` from the root; the rules are ESLint's recommended set.

import js from "@eslint/js";
import globals from "globals";

export default [
  {
    // Not ours, or not source: installed packages, collected static files, the venv.
    ignores: ["node_modules/", "staticfiles/", ".venv/", "build/", "bench/results/"],
  },
  js.configs.recommended,
  {
    // The page: ES modules loaded by <script type="module"> (no build step).
    files: ["chat/static/**/*.js", "notify/static/notify/settings.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
  },
  {
    // The service worker is a classic script (registered without type: "module").
    files: ["notify/static/notify/sw.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "script", globals: globals.serviceworker },
  },
  {
    files: ["tests/js/**/*.mjs", "eslint.config.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
  },
];
