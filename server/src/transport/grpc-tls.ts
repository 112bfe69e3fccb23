import * as grpc from "@grpc/grpc-js";
import type { TlsSource } from "./tls-files.js";

type Listener<T> = (update: T | null) => void;
type CaUpdate = grpc.experimental.CaCertificateUpdate;
type IdentityUpdate = grpc.experimental.IdentityCertificateUpdate;

/**
 * grpc-js server credentials fed by a TlsSource: grpc-js swaps its secure context when
 * the provider announces new material, so a rotated certificate is served without a restart.
 */
export function grpcServerCredentials(source: TlsSource | undefined): grpc.ServerCredentials {
  if (!source) return grpc.ServerCredentials.createInsecure();
  const caListeners = new Set<Listener<CaUpdate>>();
  const identityListeners = new Set<Listener<IdentityUpdate>>();
  const provider: grpc.experimental.CertificateProvider = {
    // grpc-js registers its own watcher only after adding these listeners, so the first
    // material must arrive asynchronously or grpc-js never learns it and drops every connection.
    addCaCertificateListener(listener) {
      caListeners.add(listener);
      const { ca } = source.current();
      queueMicrotask(() => listener(ca ? { caCertificate: ca } : null));
    },
    removeCaCertificateListener: (listener) => void caListeners.delete(listener),
    addIdentityCertificateListener(listener) {
      identityListeners.add(listener);
      const { cert, key } = source.current();
      queueMicrotask(() => listener({ certificate: cert, privateKey: key }));
    },
    removeIdentityCertificateListener: (listener) => void identityListeners.delete(listener),
  };
  source.onChange(({ cert, key, ca }) => {
    for (const listener of identityListeners) listener({ certificate: cert, privateKey: key });
    if (ca) for (const listener of caListeners) listener({ caCertificate: ca });
  });
  const mutual = Boolean(source.files.clientCaFile);
  // grpc-js's implementation takes the identity provider first and the (optional) CA
  // provider second, whatever its type declaration's parameter names say.
  return grpc.experimental.createCertificateProviderServerCredentials(provider, mutual ? provider : null, mutual);
}
