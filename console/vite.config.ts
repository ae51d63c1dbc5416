/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// The Chronos API serves dist/index.html at / and dist/assets/<hashed file> at /assets/.
export default defineConfig({
  base: "/",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    target: "es2020",
    sourcemap: false,
  },
  server: {
    // `npx vite` against a local API: CHRONOS_API=http://localhost:8000
    proxy: {
      "/graphql": { target: process.env.CHRONOS_API ?? "http://localhost:8000", ws: true },
      "/artifacts": { target: process.env.CHRONOS_API ?? "http://localhost:8000" },
    },
  },
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.{ts,tsx}"],
  },
});
