/**
 * How the agent runs the server instances: systemd on a Pi, the built-in supervisor elsewhere.
 * Both take the same {@link ServiceSpec}; systemd ignores all but the name (its unit files, written
 * by the reconciler, say the rest).
 */
export type ServiceState = 'active' | 'inactive' | 'failed';

export interface ServiceSpec {
  /** `onionfleet-smp@<instance>.service`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /**
   * Where the supervisor sends the process's stderr. Its stdout is discarded: the SimpleX servers
   * print their address there (password and onion included), which must reach no log.
   */
  readonly logFile: string;
  /** The process is ready once 127.0.0.1:readyPort accepts a connection (the supervisor waits, with a deadline). */
  readonly readyPort: number;
}

export interface ServiceManager {
  readonly kind: 'systemd' | 'supervisor';
  state(name: string): Promise<ServiceState>;
  /** Enables and starts; a running service is left alone. Throws when it fails to start. */
  start(spec: ServiceSpec): Promise<void>;
  restart(spec: ServiceSpec): Promise<void>;
  /** Stops (SIGINT for the servers, so messages are saved) and disables; a stopped one is left alone. */
  stop(name: string): Promise<void>;
  daemonReload(): Promise<void>;
}
