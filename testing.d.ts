// Types for `tenantfence/testing`: helpers for an app's own Jest suites.
import type { TenantFence } from './index';

/** Jest globalSetup: starts a throwaway MongoDB unless `MONGODB_URI` is set, and turns command monitoring on. */
export declare function globalSetup(): Promise<void>;
/** Jest globalTeardown: stops the MongoDB that globalSetup started, if any. */
export declare function globalTeardown(): Promise<void>;

/** Runs `fn` as tenant `tenantId` for every fence in the process; returns what `fn` returns. */
export declare function withTenant<T>(tenantId: string, fn: () => T, options?: { tenantIdPattern?: RegExp }): T;

/** One command that reached MongoDB, as the probe audited it. */
export interface ProbedCommand {
  /** The command name: `find`, `aggregate`, `insert`, `getMore`, `listCollections` … */
  command: string;
  /** The database it was sent to. */
  database: string;
  /** The collection it names, when it names one. */
  collection?: string;
  /** The tenant of the operation that sent it. */
  tenant?: string;
  /** True when it was sent inside `runAsSystem`. */
  system?: boolean;
  /** The `runAsSystem` reason. */
  systemReason?: string;
  /** True for commands that read or write documents (false for getMore, hello, listCollections …). */
  data: boolean;
  /** False when a data command was not confined to its tenant. */
  scoped: boolean;
  /** Why it is not scoped. */
  reason?: string;
}

export interface ProbeOptions {
  /** Do not count commands sent inside `runAsSystem` as violations. Default false. */
  allowSystem?: boolean;
}

export interface IsolationProbe {
  /** The commands seen since the last reset (up to 10,000). */
  readonly commands: ProbedCommand[];
  /** The data commands that were not scoped to their tenant. */
  violations(options?: ProbeOptions): ProbedCommand[];
  /** Throws an Error (name `'TenantIsolationError'`, `violations` attached) when there is any violation. */
  assertIsolated(options?: ProbeOptions): void;
  /** Forgets what was seen. */
  reset(): void;
}

/** A probe over the commands `fence` sends; the fence must be connected with command monitoring. */
export declare function isolationProbe(fence: TenantFence, options?: ProbeOptions): IsolationProbe;

/** Jest: resets the probe before each test and asserts after it. `fence` may be a getter. */
export declare function useIsolationProbe(fence: TenantFence | (() => TenantFence), options?: ProbeOptions): IsolationProbe;

/** Judges one command document with the probe's rule, as if `tenant` (or system) sent it to `db`. */
export declare function probeCommand(
  command: Record<string, unknown>,
  options: {
    tenant?: string;
    system?: boolean;
    db?: string;
    tenantField?: string;
    strategy?: 'field' | 'database';
    database?: string;
  },
): ProbedCommand;

/** @deprecated The old name of `probeCommand` ("audit" now means the system-access hook only). */
export declare const auditCommand: typeof probeCommand;
