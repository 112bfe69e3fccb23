import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A certificate authority made by openssl in a temporary directory, and certificates it signs. */
export interface TestCa {
  dir: string;
  caFile: string;
  ca: Buffer;
  /** A certificate for 127.0.0.1 and localhost (server) or a client name; returns its file names and contents. */
  issue(name: string, usage: "server" | "client"): IssuedCert;
  remove(): void;
}

export interface IssuedCert {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

const openssl = (dir: string, args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });

export function createTestCa(name = "chime-test-ca"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "chime-tls-"));
  openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", `/CN=${name}`, "-keyout", "ca.key", "-out", "ca.pem"]);
  const caFile = join(dir, "ca.pem");
  return {
    dir,
    caFile,
    ca: readFileSync(caFile),
    issue(certName, usage) {
      const ext = join(dir, `${certName}.ext`);
      writeFileSync(
        ext,
        usage === "server"
          ? "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
          : "extendedKeyUsage=clientAuth\n",
      );
      openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-subj", `/CN=${certName}`, "-keyout", `${certName}.key`, "-out", `${certName}.csr`]);
      openssl(dir, ["x509", "-req", "-in", `${certName}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", `${certName}.pem`]);
      const certFile = join(dir, `${certName}.pem`);
      const keyFile = join(dir, `${certName}.key`);
      return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
