import { defineConfig } from "vitest/config";

// Hooks that transpile worker agents or build the package (test/concurrency, test/embedding) take
// seconds alone and minutes on a loaded 2-core machine (CI's own guidance); vitest's default hook
// timeout of 10 s failed them there. Tests keep their own explicit timeouts.
export default defineConfig({
  test: {
    hookTimeout: 300_000,
  },
});
