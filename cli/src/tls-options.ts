import { readFileSync } from "node:fs";
import type { ClientTlsOptions } from "@chime/sdk";
import { Option, type Command } from "commander";
import { ArgumentError } from "./exit-codes.js";

/** The TLS flags as commander parses them (each with a CHIME_* environment default). */
export interface TlsFlags {
  tls?: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  serverName?: string;
}

/**
 * The client side of the server's CHIME_TLS_* settings. The environment names say "client"
 * for the certificate and key so that a shell which also holds the server's
 * CHIME_TLS_CERT_FILE never sends the server's own certificate as a client certificate.
 */
export function addTlsFlags(command: Command): Command {
  return command
    .addOption(new Option("--tls", "connect over TLS (implied by an https:// server or any TLS file)").env("CHIME_TLS"))
    .addOption(new Option("--ca <file>", "PEM CA that signed the server's certificate (default: the system's)").env("CHIME_TLS_CA_FILE"))
    .addOption(new Option("--cert <file>", "PEM client certificate, for a server with mTLS").env("CHIME_TLS_CLIENT_CERT_FILE"))
    .addOption(new Option("--key <file>", "PEM private key of --cert").env("CHIME_TLS_CLIENT_KEY_FILE"))
    .addOption(new Option("--server-name <name>", "name the server's certificate must carry, if not the --server host").env("CHIME_TLS_SERVER_NAME"));
}

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ArgumentError(`${flag}: cannot read ${JSON.stringify(file)} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/**
 * The server URL to dial and the SDK's tls option: TLS when asked for by --tls, an https://
 * --server or any TLS flag (an http:// URL then becomes https://); none otherwise.
 */
export function tlsConnection(server: string, flags: TlsFlags): { baseUrl: string; tls?: ClientTlsOptions } {
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw new ArgumentError(flags.cert === undefined ? "--cert: required with --key" : "--key: required with --cert");
  }
  const wanted = flags.tls === true || server.startsWith("https://") || [flags.ca, flags.cert, flags.serverName].some((v) => v !== undefined);
  if (!wanted) return { baseUrl: server };
  const tls: ClientTlsOptions = {
    ...(flags.ca === undefined ? {} : { ca: readPem("--ca", flags.ca) }),
    ...(flags.cert === undefined ? {} : { cert: readPem("--cert", flags.cert) }),
    ...(flags.key === undefined ? {} : { key: readPem("--key", flags.key) }),
    ...(flags.serverName === undefined ? {} : { servername: flags.serverName }),
  };
  return { baseUrl: server.replace(/^http:\/\//, "https://"), tls };
}
