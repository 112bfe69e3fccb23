import react from "@vitejs/plugin-react";
import { defaultClientConditions, defineConfig } from "vite";

// `npm run dev --workspace dashboard` serves the page with hot reload and proxies the
// API (Connect RPCs, /healthz, /metrics) to a running server's HTTP port.
const api = process.env.CHIME_API_URL ?? `http://127.0.0.1:${process.env.CHIME_HTTP_PORT ?? "8081"}`;

export default defineConfig({
  plugins: [react()],
  // @chime/sdk from its TypeScript sources (package.json exports "@chime/source"): no SDK build needed first.
  resolve: { conditions: ["@chime/source", ...defaultClientConditions] },
  // Relative asset URLs, so the build works wherever the server mounts it.
  base: "./",
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 1000 },
  server: {
    proxy: {
      // The page's origin is the proxy's, so the server sees a same-origin call (no CHIME_CORS_ORIGINS entry needed).
      "^/chime\\.v1\\.[A-Za-z]+/": { target: api, changeOrigin: true, headers: { origin: new URL(api).origin } },
      "/healthz": { target: api },
      "/metrics": { target: api },
    },
  },
});
