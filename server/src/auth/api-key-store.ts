import { createHash, randomBytes } from "node:crypto";
import type pg from "pg";
import { create } from "@bufbuild/protobuf";
import { ApiKeySchema, type ApiKey, type ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";
import { optionalTimestamp, toTimestamp } from "../util/time.js";

/** A key's secret: a prefix that says what it is (secret scanners look for such), then 256 random bits. */
function newSecret(): string {
  return `chime_${randomBytes(32).toString("base64url")}`;
}

function secretHash(secret: string): Buffer {
  return createHash("sha256").update(secret).digest();
}

interface ApiKeyRow {
  id: string;
  name: string;
  namespace: string | null;
  role: number;
  create_time: Date;
  expire_time: Date | null;
  revoke_time: Date | null;
}

const COLUMNS = "id, name, namespace, role, create_time, expire_time, revoke_time";

function toApiKey(row: ApiKeyRow): ApiKey {
  return create(ApiKeySchema, {
    id: row.id,
    name: row.name,
    namespace: row.namespace ?? "",
    role: row.role as ApiKeyRole,
    createTime: toTimestamp(row.create_time),
    expireTime: optionalTimestamp(row.expire_time),
    revokeTime: optionalTimestamp(row.revoke_time),
  });
}

export function createApiKeyStore(pool: pg.Pool) {
  return {
    async create(input: { name: string; namespace?: string; role: ApiKeyRole; expireTime?: Date; createdBy?: string }): Promise<{ key: ApiKey; secret: string }> {
      const secret = newSecret();
      const { rows } = await pool.query<ApiKeyRow>(
        `INSERT INTO api_keys (name, namespace, role, secret_hash, expire_time, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${COLUMNS}`,
        [input.name, input.namespace ?? null, input.role, secretHash(secret), input.expireTime ?? null, input.createdBy || null],
      );
      return { key: toApiKey(rows[0]), secret };
    },

    /** The key a secret belongs to, whatever its state (the caller says why an expired or revoked one is refused). */
    async findBySecret(secret: string): Promise<ApiKey | undefined> {
      const { rows } = await pool.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE secret_hash = $1`, [secretHash(secret)]);
      return rows[0] && toApiKey(rows[0]);
    },

    /** Keys of one namespace (undefined: every key), newest first. */
    async list(namespace: string | undefined, includeRevoked: boolean): Promise<ApiKey[]> {
      const { rows } = await pool.query<ApiKeyRow>(
        `SELECT ${COLUMNS} FROM api_keys WHERE ($1::text IS NULL OR namespace = $1) AND ($2 OR revoke_time IS NULL) ORDER BY create_time DESC, id`,
        [namespace ?? null, includeRevoked],
      );
      return rows.map(toApiKey);
    },

    async get(id: string): Promise<ApiKey | undefined> {
      const { rows } = await pool.query<ApiKeyRow>(`SELECT ${COLUMNS} FROM api_keys WHERE id = $1`, [id]);
      return rows[0] && toApiKey(rows[0]);
    },

    /** Revokes a key (once: a second revocation keeps the first time). */
    async revoke(id: string): Promise<ApiKey | undefined> {
      const { rows } = await pool.query<ApiKeyRow>(
        `UPDATE api_keys SET revoke_time = COALESCE(revoke_time, now()) WHERE id = $1 RETURNING ${COLUMNS}`,
        [id],
      );
      return rows[0] && toApiKey(rows[0]);
    },
  };
}

export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
