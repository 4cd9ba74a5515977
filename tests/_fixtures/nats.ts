/**
 * Real `nats-server` processes for tests and the benchmark: one JetStream
 * node, or a cluster of three, on loopback with free ports and temporary
 * store directories. A node can be killed (SIGKILL) and started again on
 * the same ports and store. Disposing stops every process and removes the
 * directories. Needs Debian's `nats-server` (`.ci/run` installs it).
 */
import {
  createAccount,
  createOperator,
  createUser,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
} from "@nats-io/jwt";
import { waitFor } from "./wait.ts";

/** A port nobody listens on now (the kernel picked it). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Certificates for TLS: a CA, and a server certificate for 127.0.0.1 it signed. */
export interface Certificates {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** Makes {@link Certificates} in `dir` with openssl. */
export async function makeCertificates(dir: string): Promise<Certificates> {
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
  };
  await Deno.writeTextFile(
    `${dir}/ext.cnf`,
    "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  await run(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=tailcast test CA",
  );
  await run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  );
  await run(
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  return {
    ca: `${dir}/ca.pem`,
    cert: `${dir}/server.pem`,
    key: `${dir}/server.key`,
  };
}

/** What a node is started with besides its ports and store. */
export interface NodeAuth {
  /** `authorization { user, password }`. */
  user?: { name: string; password: string };
  /** `authorization { token }`. */
  token?: string;
}

/** One `nats-server` process with JetStream, restartable on the same store. */
export class NatsNode {
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly dir: string;
  /** `nats:`, or `tls:` when the node wants TLS. */
  readonly scheme: string;
  readonly #config: string;
  #child: Deno.ChildProcess | null = null;
  #log: Promise<string> = Promise.resolve("");

  constructor(
    name: string,
    dir: string,
    config: string,
    port: number,
    clusterPort: number,
    scheme = "nats:",
  ) {
    this.scheme = scheme;
    this.name = name;
    this.dir = dir;
    this.#config = config;
    this.port = port;
    this.clusterPort = clusterPort;
  }

  /** `nats://127.0.0.1:PORT` (`tls://` with TLS). */
  get url(): string {
    return `${this.scheme}//127.0.0.1:${this.port}`;
  }

  /** Whether its process is running. */
  get running(): boolean {
    return this.#child !== null;
  }

  /** The process id while it runs. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Starts the process and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.#child) return;
    const child = new Deno.Command("nats-server", {
      args: ["-c", this.#config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    this.#log = new Response(child.stderr).text();
    await waitFor(
      async () => {
        if (this.#child !== child) return true;
        try {
          const conn = await Deno.connect({
            hostname: "127.0.0.1",
            port: this.port,
          });
          conn.close();
          return true;
        } catch {
          return false;
        }
      },
      `nats-server ${this.name} to listen on ${this.port}`,
      10_000,
    );
  }

  /** SIGKILL: the process dies at once, as in a crash. */
  async kill(): Promise<void> {
    await this.#end("SIGKILL");
  }

  /** SIGTERM, and waits for it to exit. */
  async stop(): Promise<void> {
    await this.#end("SIGTERM");
  }

  /** What the server logged on stderr (after it ended). */
  log(): Promise<string> {
    return this.#log;
  }

  async #end(signal: Deno.Signal): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    await child.status;
    await this.#log;
  }
}

/** Options common to one node and a cluster. */
export interface NatsOptions {
  auth?: NodeAuth;
  /**
   * Operator mode (JWT): the nodes trust a made-up operator, and
   * {@link NatsServers.creds} is a `.creds` file of a user of its account.
   */
  operator?: boolean;
  /** Clients must use TLS with this certificate. */
  tls?: Certificates;
  /** JetStream file store limit per node. @default 1 GiB */
  maxFileStore?: number;
}

function authBlock(auth: NodeAuth | undefined): string {
  if (!auth) return "";
  if (auth.user) {
    return `authorization { user: ${
      JSON.stringify(auth.user.name)
    }, password: ${JSON.stringify(auth.user.password)} }\n`;
  }
  if (auth.token) {
    return `authorization { token: ${JSON.stringify(auth.token)} }\n`;
  }
  return "";
}

/** An operator, its account (JetStream allowed) and a user's `.creds` file in `dir`. */
async function operatorMode(
  dir: string,
): Promise<{ config: string; creds: string }> {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const user = createUser();
  const unlimited = {
    subs: -1,
    data: -1,
    payload: -1,
    imports: -1,
    exports: -1,
    wildcards: true,
    conn: -1,
    leaf: -1,
    mem_storage: -1,
    disk_storage: -1,
    streams: -1,
    consumer: -1,
  };
  const operatorJwt = await encodeOperator("tailcast-test", operator, {
    system_account: system.getPublicKey(),
  });
  const accountJwt = await encodeAccount(
    "logs",
    account,
    { limits: unlimited } as never,
    { signer: operator },
  );
  const systemJwt = await encodeAccount("SYS", system, {}, {
    signer: operator,
  });
  const creds = `${dir}/user.creds`;
  await Deno.writeFile(
    creds,
    fmtCreds(await encodeUser("agent", user, account), user),
  );
  return {
    creds,
    config: `operator: ${operatorJwt}
system_account: ${system.getPublicKey()}
resolver: MEMORY
resolver_preload: {
  ${account.getPublicKey()}: ${accountJwt}
  ${system.getPublicKey()}: ${systemJwt}
}
`,
  };
}

/** One node, or three clustered: start, kill and restart nodes; dispose to stop all. */
export class NatsServers implements AsyncDisposable {
  readonly nodes: readonly NatsNode[];
  /** With `operator`: a user's `.creds` file. */
  readonly creds: string | null;
  readonly #root: string;

  private constructor(root: string, nodes: NatsNode[], creds: string | null) {
    this.#root = root;
    this.nodes = nodes;
    this.creds = creds;
  }

  /** One JetStream node. */
  static async single(options: NatsOptions = {}): Promise<NatsServers> {
    return await NatsServers.#make(1, options);
  }

  /** Three JetStream nodes clustered over loopback. */
  static async cluster(options: NatsOptions = {}): Promise<NatsServers> {
    return await NatsServers.#make(3, options);
  }

  static async #make(count: number, options: NatsOptions) {
    const root = await Deno.makeTempDir({ prefix: "tailcast-nats-" });
    const jwt = options.operator ? await operatorMode(root) : null;
    const ports = Array.from({ length: count }, () => [freePort(), freePort()]);
    const nodes: NatsNode[] = [];
    for (let i = 0; i < count; i++) {
      const name = `n${i + 1}`;
      const dir = `${root}/${name}`;
      await Deno.mkdir(dir);
      const [port, clusterPort] = ports[i];
      const routes = ports
        .filter((_, j) => j !== i)
        .map(([, p]) => `"nats-route://127.0.0.1:${p}"`)
        .join(", ");
      const config = `${dir}/server.conf`;
      await Deno.writeTextFile(
        config,
        `server_name: ${name}
listen: "127.0.0.1:${port}"
${jwt?.config ?? ""}${authBlock(options.auth)}${
          options.tls
            ? `tls { cert_file: ${
              JSON.stringify(options.tls.cert)
            }, key_file: ${JSON.stringify(options.tls.key)} }\n`
            : ""
        }jetstream {
  store_dir: ${JSON.stringify(`${dir}/store`)}
  max_memory_store: 64MB
  max_file_store: ${options.maxFileStore ?? 1024 * 1024 * 1024}
}
${
          count > 1
            ? `cluster {
  name: tailcast-test
  listen: "127.0.0.1:${clusterPort}"
  routes: [${routes}]
}
`
            : ""
        }`,
      );
      nodes.push(
        new NatsNode(
          name,
          dir,
          config,
          port,
          clusterPort,
          options.tls ? "tls:" : "nats:",
        ),
      );
    }
    const servers = new NatsServers(root, nodes, jwt?.creds ?? null);
    try {
      await Promise.all(nodes.map((n) => n.start()));
    } catch (error) {
      await servers[Symbol.asyncDispose]();
      throw error;
    }
    return servers;
  }

  /** The client URLs of every node, comma-separated, as `--publish`/`--subscribe` take them. */
  get urls(): string {
    return this.nodes.map((n) => n.url).join(",");
  }

  /** `--allow-net` entries for every node. */
  get allowNet(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(",");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await Deno.remove(this.#root, { recursive: true }).catch(() => {});
  }
}
