import type { Transport } from "@connectrpc/connect";

type HeaderInit = Parameters<Transport["unary"]>[3];

/**
 * A transport that adds the client's token and default deadline to every call of one the
 * caller built (Connect, gRPC-Web, a test's), which carries its own interceptors and so
 * cannot take ours. A call's own header and timeout win.
 */
export function withCallDefaults(transport: Transport, defaults: { token?: string | undefined; timeoutMs?: number | undefined }): Transport {
  const headerOf = (header: HeaderInit | undefined): HeaderInit | undefined => {
    if (!defaults.token) return header;
    const merged = new Headers(header);
    if (!merged.has("authorization")) merged.set("authorization", `Bearer ${defaults.token}`);
    return merged;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.unary(method, signal, timeoutMs ?? defaults.timeoutMs, headerOf(header), input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      transport.stream(method, signal, timeoutMs ?? defaults.timeoutMs, headerOf(header), input, contextValues),
  };
}
