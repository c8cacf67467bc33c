/**
 * The member's printable page as text: one inline-SVG QR code per server address and nothing to
 * load (no script, no src or href, a CSP that forbids loading), the settings and retire list of
 * the bundle, the same refusals as the bundle for a malformed field. (That Chromium draws it and
 * every code scans to its address: test/integration/member-side.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { BUNDLE_SETTINGS, type BundleInput } from '../../../controller/bundle/document.ts';
import { renderMemberPage } from '../../../controller/bundle/page.ts';

const onion = (c: string) => `${c.repeat(56)}.onion`;
const INPUT: BundleInput = {
  fleet: 'newsroom-demo', group: 'fam', version: 2, date: '2026-01-02',
  smp: [`smp://${'A'.repeat(43)}=:p<w>&"1@${onion('a')}`, `smp://${'B'.repeat(43)}=:pw2@${onion('b')}`],
  xftp: [`xftp://${'C'.repeat(43)}=:pw3@${onion('c')}`],
  retire: [{ address: `smp://${'D'.repeat(43)}=:old@${onion('d')}`, after: '2026-01-16' }],
};

describe('renderMemberPage', () => {
  it('one QR code per server address, each captioned with its address (escaped)', async () => {
    const page = await renderMemberPage(INPUT, 'SHA256:fingerprint');
    expect(page.match(/<svg /g)).toHaveLength(3);
    expect(page.match(/<figure class="server" data-kind="smp">/g)).toHaveLength(2);
    expect(page.match(/<figure class="server" data-kind="xftp">/g)).toHaveLength(1);
    expect(page).toContain(`<code>smp://${'A'.repeat(43)}=:p&#60;w&#62;&#38;&#34;1@${onion('a')}</code>`);
    expect(page).not.toContain('p<w>');
    expect(page).toContain(`${INPUT.retire[0]?.address ?? ''}</code> — remove it from your app after 2026-01-16`);
    const html = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    for (const s of BUNDLE_SETTINGS) expect(page).toContain(`<li>${html(s.replace(/^- /, ''))}</li>`);
    expect(page).toContain('SHA256:fingerprint');
  });

  it('loads nothing: no script, no src or href, a policy that forbids loading', async () => {
    const page = await renderMemberPage(INPUT, 'SHA256:x');
    expect(page).not.toMatch(/<script|\bsrc=|\bhref=|url\(|@import/i);
    expect(page).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  });

  it('says so when the group has no XFTP server, and refuses what the bundle refuses', async () => {
    expect(await renderMemberPage({ ...INPUT, xftp: [] }, 'SHA256:x')).toMatch(/<h2>XFTP servers \(files\)<\/h2>\n<p>none: keep one XFTP server/);
    await expect(renderMemberPage({ ...INPUT, smp: ['smp://evil<script>'] }, 'SHA256:x')).rejects.toThrow(/smp\[0\]: not an smp:\/\/ onion address/);
  });
});
