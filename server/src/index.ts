export { startChimeServer, type ChimeServerOptions, type RunningChimeServer } from "./app.js";
export { loadConfig, ConfigError, type ChimeConfig, type Role } from "./config.js";
export { migrate } from "./db/migrate.js";
export { ensureDatabase } from "./db/ensure-database.js";
