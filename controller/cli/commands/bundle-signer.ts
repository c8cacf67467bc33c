import { z } from 'zod';
import { parseFlags } from '#shared/cli/flags.ts';
import { toJson } from '#shared/cli/output.ts';
import type { CliContext } from '#shared/cli/run-main.ts';
import { keyFingerprint } from '#shared/crypto/sign.ts';
import { sshFingerprint, sshPublicKey } from '#shared/crypto/sshsig.ts';
import { BUNDLE_NAMESPACE, trustedSignerLine } from '../../bundle/trusted-signers.ts';
import { loadFleetSpec } from '../../spec/load.ts';
import { loadIdentity } from '../../state/identity.ts';
import { stateDir, statePaths } from '../../state/paths.ts';

const Flags = z.object({ file: z.string().min(1), state: z.string().optional(), json: z.boolean().default(false) });

/**
 * `onionfleet bundle signer -f FILE [--state DIR] [--json]`: the `allowed_signers` line the admin
 * gives every member once (principal: the fleet's name; namespace onionfleet-bundle) and the
 * key's OpenSSH fingerprint, which `ssh-keygen -Y verify` prints. The text output is itself a
 * valid allowed_signers file (the fingerprint in a comment line). Reads only public keys.
 */
export async function bundleSigner(opts: unknown, ctx: CliContext): Promise<void> {
  const flags = parseFlags(Flags, opts);
  const spec = await loadFleetSpec(flags.file);
  const identity = await loadIdentity(statePaths(stateDir(flags.state)));
  const key = identity.signingKey;
  const line = trustedSignerLine({ fleet: spec.fleet, key });
  if (flags.json) {
    ctx.output.out(toJson({ fleet: spec.fleet, principal: spec.fleet, namespace: BUNDLE_NAMESPACE, allowedSigners: line, sshKey: sshPublicKey(key), sshFingerprint: sshFingerprint(key), controllerKey: key, fingerprint: keyFingerprint(key) }));
    return;
  }
  ctx.output.out([
    `# fleet ${spec.fleet}: controller key ${sshFingerprint(key)} (ED25519). Give this file to every member over a channel you trust;`,
    `# they check a bundle with: ssh-keygen -Y verify -f THIS_FILE -I ${spec.fleet} -n ${BUNDLE_NAMESPACE} -s MEMBER.age.sig < MEMBER.age`,
    line,
  ].join('\n'));
}
