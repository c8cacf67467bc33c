/**
 * What an agent and `serve`'s gateway say to each other (docs/reference/nats.md, "Isolation by
 * accounts"): the agent publishes `up.desired` ("send my desired state unless I have revision N") and
 * `up.status` (its sealed status); the gateway publishes `down.desired` (the sealed desired state, or
 * nothing when there is none, with its KV revision in a header). Pure: schemas and codecs, no I/O.
 */
import { z } from 'zod';

/** The header of a `down.desired` message carrying the desired state's KV revision (0: none yet). */
export const REVISION_HEADER = 'Onionfleet-Revision';

/** `up.desired`: `have` is the KV revision the agent last received (null: none, send it). */
export const DesiredRequest = z.strictObject({ have: z.int().nonnegative().nullable() });
export type DesiredRequest = z.infer<typeof DesiredRequest>;

/** A revision header's value: a decimal, non-negative integer. */
const RevisionText = z.string().regex(/^(0|[1-9][0-9]{0,15})$/).transform(Number);

export function encodeDesiredRequest(request: DesiredRequest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(request));
}

/** The request in `data`, or null when it is not one (the gateway drops it). */
export function decodeDesiredRequest(data: Uint8Array): DesiredRequest | null {
  try {
    const parsed = DesiredRequest.safeParse(JSON.parse(new TextDecoder().decode(data)));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** A desired state as the gateway pushes it: the sealed document (null: none, or deleted) and its KV revision. */
export interface DesiredPush {
  readonly value: Uint8Array | null;
  readonly revision: number;
}

/** The revision carried by a `down.desired` header, or null when it is missing or not a revision. */
export function decodeRevision(header: string | undefined): number | null {
  const parsed = RevisionText.safeParse(header);
  return parsed.success ? parsed.data : null;
}
