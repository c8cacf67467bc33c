/**
 * The member's printable page: one self-contained HTML file (no script, no external asset — a
 * Content-Security-Policy forbids loading any) with the group's servers, one QR code per address
 * as inline SVG, the terminal client's lines, the recommended client settings and the servers to
 * retire. Made to be opened on a laptop (or printed) and scanned with the phone's SimpleX app.
 *
 * Pure: the page is a function of the bundle's fields and the signer's fingerprint (the QR codes
 * come from the `qrcode` package, which is deterministic).
 */
import { toString as qrString } from 'qrcode';
import { BUNDLE_SETTINGS, renderBundle, type BundleInput } from './document.ts';

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The QR code of `address` as an inline `<svg>` (error correction M, a 4-module quiet zone). */
async function qrSvg(address: string, label: string): Promise<string> {
  const svg = await qrString(address, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
  return svg.replace('<svg ', `<svg role="img" aria-label="${escape(label)}" `);
}

const STYLE = `
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 1.5rem auto; padding: 0 1rem; color: #111; background: #fff; line-height: 1.4; }
  h1 { font-size: 1.4rem; margin-bottom: 0.2rem; }
  h2 { font-size: 1.15rem; margin-top: 1.8rem; border-bottom: 1px solid #999; }
  .meta, .note { color: #444; font-size: 0.9rem; }
  .servers { display: flex; flex-wrap: wrap; gap: 1.2rem; }
  figure.server { margin: 0; width: 15rem; break-inside: avoid; page-break-inside: avoid; }
  figure.server svg { width: 15rem; height: 15rem; display: block; }
  figcaption { font-size: 0.75rem; }
  code { font-family: ui-monospace, monospace; word-break: break-all; }
  pre { white-space: pre-wrap; word-break: break-all; font-size: 0.75rem; background: #f3f3f3; padding: 0.5rem; }
  .retire li { margin-bottom: 0.3rem; }
  @media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; } }
`;

async function serverFigures(kind: 'smp' | 'xftp', addresses: readonly string[]): Promise<string> {
  if (addresses.length === 0) return '<p>none: keep one XFTP server enabled in your app, or files cannot be sent.</p>';
  const figures = await Promise.all(addresses.map(async (a, i) => {
    const label = `${kind.toUpperCase()} server ${i + 1}`;
    return `<figure class="server" data-kind="${kind}">${await qrSvg(a, label)}<figcaption><strong>${label}</strong><br><code>${escape(a)}</code></figcaption></figure>`;
  }));
  return `<div class="servers">${figures.join('\n')}</div>`;
}

/**
 * The page of `input` (the bundle's fields), naming `fingerprint` (the signer's OpenSSH
 * fingerprint) at the bottom.
 *
 * @throws {InvalidInputError} when a field is malformed (as {@link renderBundle}).
 */
export async function renderMemberPage(input: BundleInput, fingerprint: string): Promise<string> {
  renderBundle(input); // the same checks: nothing malformed reaches the page
  const { fleet, group, version, date, smp, xftp, retire } = input;
  const title = `Servers of group ${group} — version ${version}`;
  const terminal = [`/smp ${smp.join(' ')}`, ...(xftp.length === 0 ? [] : [`/xftp ${xftp.join(' ')}`])];
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; img-src data:">',
    '<meta name="referrer" content="no-referrer">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escape(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escape(title)}</h1>`,
    `<p class="meta">fleet ${escape(fleet)} · ${escape(date)} · This page is secret: each address holds the server's password. Do not share it, and delete it when you are done.</p>`,
    '<p>Start Tor on your phone first (Orbot). Then in SimpleX: Settings → Network &amp; servers → Your servers → Add server → Scan server QR code, and scan each code below.</p>',
    '<h2>SMP servers (messages)</h2>',
    await serverFigures('smp', smp),
    '<h2>XFTP servers (files)</h2>',
    await serverFigures('xftp', xftp),
    '<h2>Recommended client settings for a closed group</h2>',
    `<ul>${BUNDLE_SETTINGS.map((s) => `<li>${escape(s.replace(/^- /, ''))}</li>`).join('')}</ul>`,
    '<h2>Servers to retire</h2>',
    retire.length === 0
      ? '<p>none</p>'
      : `<ul class="retire">${retire.map((r) => `<li><code>${escape(r.address)}</code> — remove it from your app after ${escape(r.after)}</li>`).join('')}</ul>`,
    '<h2>Terminal client (simplex-chat)</h2>',
    `<pre>${terminal.map(escape).join('\n')}</pre>`,
    `<p class="note">Signed by your admin's controller, key ${escape(fingerprint)}: check the file's signature (<code>ssh-keygen -Y verify</code>, see the member guide) before you use it.</p>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
