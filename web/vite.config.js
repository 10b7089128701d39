// The shopper page: React + the official `convex` client, built to web/dist and served by
// `prefmem dev` (see prefmem/server.py). Vite 8 compiles JSX itself (oxc), so no plugin.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1000 },
});
