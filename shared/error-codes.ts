/**
 * The closed catalogue of error codes: every error onionfleet reports carries one of these codes, the
 * exit code that goes with it, and what it means. `--json` prints the code (`{"error": {"code", …}}`),
 * so scripts compare codes, never messages; docs/troubleshooting.md lists every one (a test keeps
 * them in step: `npm run docs:errors` rewrites that table). Pure data.
 */

/**
 * Exit codes of both CLIs: 0 ok · 1 failed (also any internal error) · 2 invalid input, nothing
 * changed · 3 plan refused · 4 unreachable · 130 interrupted. `probe` exits 0 · 1 · 4: an identity
 * alarm exits 1 and is told apart by `"verdict": "alarm"` in `--json`.
 */
export const EXIT = {
  ok: 0,
  failed: 1,
  invalid: 2,
  refused: 3,
  unreachable: 4,
  /** Ctrl-C (SIGINT, SIGTERM, SIGHUP) ended a command that first stopped what it started (`onionfleet demo`). */
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface ErrorCodeInfo {
  readonly exit: ExitCode;
  /** What happened, in one sentence for the troubleshooting table. */
  readonly meaning: string;
  /** What to do, when one sentence fits every occurrence (a place that knows better gives its own). */
  readonly hint?: string;
}

const { failed, invalid, refused, unreachable } = EXIT;

export const ERROR_CODES = {
  // Input and results
  'invalid-input': { exit: invalid, meaning: 'a file, flag or message is invalid (one line per problem, naming the file and field); nothing changed' },
  'output-unwritable': { exit: invalid, meaning: 'the file or directory to write (--out, a state directory) cannot be written; nothing changed', hint: 'check the path and its permissions' },
  'plan-infeasible': { exit: refused, meaning: 'no placement keeps every rule of the tiers; each unmet rule is explained with a remedy' },
  'internal': { exit: failed, meaning: 'a bug: something that must not happen did', hint: 'run again with --debug and report the stack trace' },
  'read-failed': { exit: failed, meaning: 'a file could not be read (an I/O error, not a missing file)' },
  'nothing-applied': { exit: failed, meaning: 'nothing was applied yet, so there is nothing to export', hint: 'run `onionfleet apply -f FILE --wait` first' },
  'group-not-applied': { exit: failed, meaning: 'the group was not part of the last apply' },
  'bundle-addresses-missing': { exit: failed, meaning: 'an instance of the group reports no address yet', hint: 'wait until `onionfleet status` shows every instance healthy' },
  'concurrent-apply': { exit: failed, meaning: 'another apply published meanwhile', hint: 'run apply again (it starts from the current revisions)' },
  'rollout-running': { exit: failed, meaning: 'another process drives a rollout of this state', hint: 'wait for it, or `onionfleet rollout pause` / `rollout abort` it first' },
  'no-rollout': { exit: failed, meaning: 'there is no rollout to resume, pause or abort', hint: 'run `onionfleet rollout status` to see the last one' },
  // The controller's state
  'key-missing': { exit: failed, meaning: 'a key of the controller\'s state is missing or unreadable' },
  'keys-mismatch': { exit: failed, meaning: 'the keys of the state do not match controller.json (or each other)' },
  'state-locked': { exit: failed, meaning: 'another onionfleet command holds the state\'s lock', hint: 'wait for it to finish, then run yours again' },
  'nats-onion-key-corrupt': { exit: failed, meaning: 'the NATS onion\'s key in the state is damaged' },
  // NATS
  'nats-unreachable': { exit: unreachable, meaning: 'the controller\'s NATS cannot be reached', hint: 'is `onionfleet serve` running?' },
  'nats-auth-failed': { exit: failed, meaning: 'NATS refused this nkey (unknown, pending, or revoked)', hint: 'enroll or approve the device (its account goes into the server config)' },
  'nats-server-missing': { exit: failed, meaning: 'the nats-server program is not installed', hint: 'install the development dependencies: bash deploy/dev-deps.sh' },
  'nats-server-failed': { exit: failed, meaning: 'nats-server did not start (its last log lines follow)' },
  'nats-server-exited': { exit: failed, meaning: 'nats-server stopped while serve ran' },
  'nats-log-unwritable': { exit: failed, meaning: 'nats-server\'s log file cannot be written' },
  'nats-already-running': { exit: failed, meaning: 'a serve for this state already runs' },
  'nats-reload-failed': { exit: failed, meaning: 'nats-server refused or did not confirm the new configuration; it keeps the old one' },
  // Tor
  'tor-missing': { exit: failed, meaning: 'the tor program is not installed', hint: 'install the development dependencies: bash deploy/dev-deps.sh' },
  'tor-not-running': { exit: failed, meaning: 'the controller\'s tor is not running', hint: 'start `onionfleet serve --tor`' },
  'tor-exited': { exit: failed, meaning: 'tor stopped unexpectedly (see its notice.log)' },
  'tor-config-rejected': { exit: failed, meaning: 'tor refused the rendered torrc (tor --verify-config)' },
  'tor-dir-unwritable': { exit: failed, meaning: 'tor\'s data directory cannot be written' },
  'tor-port-in-use': { exit: failed, meaning: 'a port tor was told to listen on is taken' },
  'tor-start-timeout': { exit: failed, meaning: 'tor did not open its ports in time' },
  'tor-bootstrap-timeout': { exit: failed, meaning: 'tor did not bootstrap in time' },
  'tor-control-unreachable': { exit: failed, meaning: 'tor\'s control port does not answer' },
  'tor-control-auth': { exit: failed, meaning: 'tor\'s control port refused the cookie' },
  'tor-control-timeout': { exit: failed, meaning: 'tor\'s control port did not answer in time' },
  'tor-control-closed': { exit: failed, meaning: 'tor closed its control connection' },
  'tor-control-failed': { exit: failed, meaning: 'tor refused a control command' },
  'tor-reload-failed': { exit: failed, meaning: 'tor did not confirm a reload' },
  'tor-gencert-failed': { exit: failed, meaning: 'tor-gencert could not make a test authority\'s keys' },
  'tor-network-timeout': { exit: failed, meaning: 'the private test Tor network did not come up in time' },
  'tor-network-stopped': { exit: failed, meaning: 'the private test Tor network was stopped' },
  'tunnel-failed': { exit: unreachable, meaning: 'the SOCKS tunnel through tor failed (tor\'s extended SOCKS error is named)' },
  'onion-key-invalid': { exit: failed, meaning: 'an onion service\'s key file on the device is damaged' },
  'onion-dir-unreadable': { exit: failed, meaning: 'an onion service\'s directory on the device cannot be read' },
  // Enrollment over SSH
  'ssh-unreachable': { exit: unreachable, meaning: 'the device cannot be reached over SSH' },
  'host-key-mismatch': { exit: failed, meaning: 'the device\'s SSH host key is not the pinned one', hint: 'compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the device' },
  'ssh-auth-refused': { exit: failed, meaning: 'the device refused the SSH key' },
  'ssh-failed': { exit: failed, meaning: 'the SSH connection failed' },
  'ssh-exec-failed': { exit: failed, meaning: 'a command could not be run over SSH' },
  'ssh-sftp-failed': { exit: failed, meaning: 'SFTP could not be opened on the device' },
  'ssh-upload-failed': { exit: failed, meaning: 'a file could not be uploaded to the device' },
  'remote-upload-failed': { exit: failed, meaning: 'the upload to the device failed' },
  'remote-not-root': { exit: failed, meaning: 'the SSH user is neither root nor allowed passwordless sudo' },
  'remote-node-missing': { exit: failed, meaning: 'the device has no Node.js' },
  'remote-node-too-old': { exit: failed, meaning: 'the device\'s Node.js is older than 20' },
  'remote-config-invalid': { exit: failed, meaning: 'the device\'s existing agent config cannot be read' },
  'remote-probe-failed': { exit: failed, meaning: 'checking the device failed' },
  'remote-install-failed': { exit: failed, meaning: 'installing the agent on the device failed' },
  'remote-config-failed': { exit: failed, meaning: 'writing the agent config on the device failed' },
  'remote-init-failed': { exit: failed, meaning: '`onionfleet-agent init` failed on the device' },
  'remote-start-failed': { exit: failed, meaning: 'starting the agent on the device failed' },
  'remote-uninstall-failed': { exit: failed, meaning: 'undoing the installation on the device failed' },
  'remote-cleanup-failed': { exit: failed, meaning: 'removing the uploaded files from the device failed' },
  'enroll-bad-record': { exit: failed, meaning: 'the device printed an enrollment record that is not one' },
  // Join tokens
  'join-failed': { exit: failed, meaning: 'the join could not be completed on the device' },
  'join-reply-invalid': { exit: failed, meaning: 'the controller\'s answer is not a join answer of this version' },
  'join-reply-unverified': { exit: failed, meaning: 'the answer does not come from the controller the token names; nothing was written' },
  'join-not-accepted': { exit: invalid, meaning: 'the controller\'s NATS no longer accepts the token (used, expired or revoked)' },
  'join-invalid-request': { exit: invalid, meaning: 'the controller could not read the join request' },
  'join-unknown-token': { exit: invalid, meaning: 'the controller knows no such token' },
  'join-bad-secret': { exit: invalid, meaning: 'the token\'s secret does not match: altered or mistyped' },
  'join-used': { exit: invalid, meaning: 'the token was already used' },
  'join-expired': { exit: invalid, meaning: 'the token expired' },
  'join-device-taken': { exit: invalid, meaning: 'the device id is already enrolled or pending' },
  'join-keys-taken': { exit: invalid, meaning: 'the device\'s keys are already enrolled under another id' },
  'join-internal': { exit: invalid, meaning: 'the controller could not record the join (see serve\'s output)' },
  // Sealed documents and age
  'envelope-not-for-me': { exit: invalid, meaning: 'a sealed document is encrypted to another key' },
  'envelope-malformed': { exit: invalid, meaning: 'a sealed document is damaged or not onionfleet\'s' },
  'envelope-bad-signature': { exit: invalid, meaning: 'a sealed document is not signed by the pinned key' },
  'envelope-wrong-kind': { exit: invalid, meaning: 'a sealed document of another kind was given' },
  'envelope-wrong-device': { exit: invalid, meaning: 'a sealed document is for another device' },
  'envelope-invalid-body': { exit: invalid, meaning: 'a sealed document\'s content is invalid' },
  'envelope-older-revision': { exit: invalid, meaning: 'a desired state is older than the one applied' },
  'age-bad-recipient': { exit: invalid, meaning: 'an age recipient is not one' },
  'age-bad-identity': { exit: invalid, meaning: 'an age identity is not one' },
  'age-bad-passphrase': { exit: invalid, meaning: 'the passphrase is empty or unusable' },
  'age-encrypt-failed': { exit: failed, meaning: 'age could not encrypt' },
  'age-decrypt-failed': { exit: invalid, meaning: 'age could not decrypt: wrong key or passphrase, or a damaged file' },
  // The agent on a device
  'agent-keys-missing': { exit: failed, meaning: 'the agent has no keys yet', hint: 'run `onionfleet-agent init --device ID` first' },
  'agent-keys-incomplete': { exit: failed, meaning: 'the agent\'s keys directory is incomplete' },
  'device-mismatch': { exit: failed, meaning: 'the agent\'s keys belong to another device id' },
  'account-missing': { exit: failed, meaning: 'a system account the agent needs does not exist on the device' },
  'service-start-failed': { exit: failed, meaning: 'a service did not start' },
  'systemctl-failed': { exit: failed, meaning: 'systemctl failed' },
  'system-command-failed': { exit: failed, meaning: 'a system command the agent runs failed' },
  'instance-init-failed': { exit: failed, meaning: 'a SimpleX server\'s own init failed' },
  'identity-refused': { exit: failed, meaning: 'an instance identity given to a device does not hold together (onion key, fingerprint, certificates): nothing was restored', hint: 'check the backup with `onionfleet backup verify`; restore from another backup or rotate the instance' },
  'backup-tampered': { exit: invalid, meaning: 'a sealed backup does not open, is not signed by its device, or its identity does not hold together', hint: 'do not restore from it; `onionfleet backup verify` names each one' },
  'no-backup': { exit: failed, meaning: 'an instance that must keep its address has no backup the controller can open', hint: 'wait for the device to send one (`onionfleet backup list`), or let the instance take a new address' },
  'binary-hash-mismatch': { exit: failed, meaning: 'a downloaded server binary does not match its pinned SHA-256; nothing was installed' },
  'binary-url-refused': { exit: invalid, meaning: 'a binary URL or proxy is not allowed' },
  'binary-too-large': { exit: failed, meaning: 'a download is larger than allowed' },
  'binary-http-status': { exit: failed, meaning: 'a download got an HTTP error status' },
  'binary-download-failed': { exit: unreachable, meaning: 'a download through Tor failed' },
  // The demo
  'demo-needs-checkout': { exit: failed, meaning: 'the demo needs the SimpleX test doubles of a checkout' },
  'demo-no-ports': { exit: failed, meaning: 'the demo found no free band of local ports' },
  'demo-serve-failed': { exit: failed, meaning: 'the demo\'s serve did not start' },
  'demo-step-failed': { exit: failed, meaning: 'a step of the demo failed (its log is named)' },
  'demo-tor-not-ready': { exit: failed, meaning: 'the demo\'s private Tor network did not serve onions in time' },
  'demo-unexpected-output': { exit: failed, meaning: 'a command of the demo printed something unexpected' },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Where the table of every code stands in docs/troubleshooting.md (between these two lines). */
export const TABLE_MARKERS = ['<!-- error-codes: generated by `npm run docs:errors` from shared/error-codes.ts -->', '<!-- error-codes: end -->'] as const;

/** The troubleshooting table of every code, in catalogue order: code, exit code, what happened, what to do. */
export function errorCodeTable(): string {
  const cell = (s: string): string => s.replaceAll('|', '\\|');
  const rows = Object.entries(ERROR_CODES).map(([code, info]: [string, ErrorCodeInfo]) => `| \`${code}\` | ${info.exit} | ${cell(info.meaning)} | ${info.hint === undefined ? '' : cell(info.hint)} |`);
  return ['| code | exit | what happened | what to do |', '|---|---|---|---|', ...rows].join('\n');
}
