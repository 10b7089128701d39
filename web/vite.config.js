// The shopper page: React + the official `convex` client, built to web/dist and served by
// `prefmem dev` (see prefmem/server.py). Vite 8 compiles TSX itself (oxc), so no plugin;
// it does not type-check: `tsc --noEmit` does (tsconfig.json).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1000 },
});
