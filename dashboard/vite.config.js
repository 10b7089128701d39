// The dashboard: React + the official `convex` client, built to dashboard/dist and served
// by `prefmem dev` at /_dashboard (prefmem/dashboard/routes.py). Vite 8 compiles JSX itself.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/_dashboard/",
  oxc: { jsx: { runtime: "automatic" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1000 },
});
