/**
 * The options many verbs share, built in one place so their names, wording and defaults agree.
 * Each builder returns a fresh commander Option (an Option belongs to one command).
 */
import { Option } from 'commander';

export const options = {
  /** `--state DIR`; `about` adds what the verb keeps there. */
  state: (about?: string): Option => new Option('--state <DIR>', `state directory (default $ONIONFLEET_STATE, else ~/.local/share/onionfleet)${about === undefined ? '' : `; ${about}`}`),
  /** `--passphrase-file F`: the passphrase of a state made with one. */
  passphrase: (about = 'the passphrase of the controller\'s state (or ONIONFLEET_PASSPHRASE; asked for on a terminal)'): Option => new Option('--passphrase-file <FILE>', about),
  /** `--json`: print `what` as one JSON document on stdout. */
  json: (what = 'the result'): Option => new Option('--json', `print ${what} as JSON`),
  /** `-f, --file FILE`, required: the fleet.yaml. */
  fleet: (about = 'the fleet.yaml'): Option => new Option('-f, --file <FILE>', about).makeOptionMandatory(),
  /** `--timeout S` with its default, in seconds. */
  timeout: (about: string, seconds: number): Option => new Option('--timeout <S>', about).default(String(seconds)),
} as const;
