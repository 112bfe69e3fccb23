import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { createSecureContext } from "node:tls";
import type { Logger } from "../logger.js";

/** Where the server's TLS material lives (CHIME_TLS_CERT_FILE, CHIME_TLS_KEY_FILE, CHIME_TLS_CLIENT_CA_FILE). */
export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** With it, both ports require a client certificate signed by this CA (mTLS). */
  clientCaFile?: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca?: Buffer;
}

export interface TlsSource {
  readonly files: TlsFiles;
  current(): TlsMaterial;
  /** Called with the new material each time the files change to a usable set. */
  onChange(listener: (material: TlsMaterial) => void): void;
  close(): void;
}

/** Reads the files and checks that Node accepts them together (a key that does not match its certificate fails here). */
function readTlsMaterial(files: TlsFiles): TlsMaterial {
  const material: TlsMaterial = {
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    ca: files.clientCaFile ? readFileSync(files.clientCaFile) : undefined,
  };
  createSecureContext(material);
  return material;
}

/**
 * The TLS material, reloaded when any of its files changes (polled: a rename-over
 * replacement, as cert-manager and certbot do, is seen as well as an in-place write).
 * A half-written or mismatched set is logged and the previous one kept, so a rotation
 * in progress never takes the ports down.
 */
export function watchTlsFiles(files: TlsFiles, logger: Logger, pollMs = 1000): TlsSource {
  let material = readTlsMaterial(files);
  const listeners: Array<(material: TlsMaterial) => void> = [];
  const paths = [files.certFile, files.keyFile, files.clientCaFile].filter((p): p is string => Boolean(p));
  const reload = () => {
    try {
      const next = readTlsMaterial(files);
      if (next.cert.equals(material.cert) && next.key.equals(material.key) && sameCa(next.ca, material.ca)) return;
      material = next;
      logger.info({ files }, "reloaded TLS certificate");
      for (const listener of listeners) listener(material);
    } catch (error) {
      logger.warn({ err: error, files }, "TLS files changed but cannot be used yet; keeping the previous certificate");
    }
  };
  for (const path of paths) watchFile(path, { interval: pollMs, persistent: false }, reload);
  return {
    files,
    current: () => material,
    onChange: (listener) => void listeners.push(listener),
    close: () => {
      for (const path of paths) unwatchFile(path, reload);
    },
  };
}

function sameCa(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}
