// Drive the task form in headless Chromium as a user does (node drive.mjs TASK_JSON OUT_DIR).
// Writes OUT_DIR/result.json and the two screenshots; exits 1 with one line on failure.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [taskFile, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
await import('./build.mjs');

// playwright starts Chromium with a new empty profile of its own (--user-data-dir)
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1000, height: 1500 } });
page.setDefaultTimeout(10000);
try {
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  await page.addInitScript(`window.__TASK__ = ${readFileSync(taskFile, 'utf8')};`);
  await page.goto(pathToFileURL(join(here, 'dist', 'index.html')).href);
  await page.waitForSelector('#root_sweeps');
  const fieldErrors = () => page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('input, select')].filter((el) => el.id).map((el) => [el.id,
      [...(el.closest('.form-group')?.querySelectorAll(':scope > div > .error-detail li, :scope > .error-detail li') ?? [])]
        .map((li) => li.textContent)])));
  const labels = () => page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('label[for]')].map((l) => [l.htmlFor, l.textContent])));
  const helps = () => page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('[id$="__help"]')].map((h) => [h.id.replace(/__help$/, ''), h.textContent])));
  const rendered = await page.evaluate(() => window.__initial__);
  const initialRows = await page.locator('#root_sweeps input[id$="_id"]').count();

  async function type(id, text) {
    const field = page.locator(`#${id}`);
    await field.click();
    await field.press('Control+a');
    await field.pressSequentially(String(text));
  }
  const rows = [
    { id: 'peak', energy_keV: 12.66 },
    { id: 'remote', energy_keV: 13.0 },
  ];
  for (const [i, row] of rows.entries()) {
    await page.locator('#root_sweeps .btn-add').last().click();
    await page.waitForSelector(`#root_sweeps_${i}_id`);
    await type(`root_sweeps_${i}_id`, row.id);
    await type(`root_sweeps_${i}_energy_keV`, row.energy_keV);
    await type(`root_sweeps_${i}_num_images`, 4);
    await type(`root_sweeps_${i}_osc_range`, 0.5);
    await type(`root_sweeps_${i}_exposure_time`, 0.01);
    await page.locator(`#root_sweeps_${i}_inverse_beam`).check();
  }
  await type('root_wedge_size', 2);
  await page.screenshot({ path: join(outDir, 'web-form-filled.png'), fullPage: true });
  const filledRows = await page.locator('#root_sweeps input[id$="_id"]').count();
  await page.click('#add-to-queue');
  await page.waitForFunction(() => window.__submitted__ || window.__refused__);
  const submitted = await page.evaluate(() => window.__submitted__);
  const refusedFilled = await page.evaluate(() => window.__refused__);

  await type('root_sweeps_0_num_images', 0);
  await type('root_sweeps_0_energy_keV', 40);
  await page.evaluate(() => { window.__submitted__ = null; });
  await page.click('#add-to-queue');
  await page.waitForFunction(() => window.__submitted__ || window.__refused__);
  await page.locator('#root_sweeps_0_energy_keV').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(outDir, 'web-form-refused.png'), fullPage: true });
  const refusal = {
    submitted: await page.evaluate(() => window.__submitted__),
    errors: await page.evaluate(() => window.__refused__),
    field_errors: await fieldErrors(),
    labels: await labels(),
    helps: await helps(),
  };
  writeFileSync(join(outDir, 'result.json'), JSON.stringify({
    rendered_errors: rendered, initial_rows: initialRows, rows: filledRows, labels: refusal.labels, submitted, refused: refusedFilled, refusal,
    page_errors: pageErrors,
  }, null, 1));
  if (pageErrors.length) throw new Error(`page errors: ${pageErrors.join('; ')}`);
} catch (e) {
  console.log(`browser test failed: ${e.message.split('\n').slice(0, 12).join(' | ')} (page in ${outDir}/failed.html)`);
  writeFileSync(join(outDir, 'failed.html'), await page.content());
  process.exitCode = 1;
} finally {
  await browser.close();
}
