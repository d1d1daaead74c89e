// Print the talk deck to PDF with reveal.js's print layout (?print-pdf) in headless Chromium.
//
//   node tools/talk_pdf.mjs build/slides/ulmfit-talk.html build/slides/ulmfit-talk.pdf [--handout]
//
// Called by tools/build_talk.py (make slides). Debian's /usr/bin/chromium (or CHROMIUM) driven by
// playwright-core, as tests/browser/lab_e2e.mjs does; nothing is fetched from a network: requests
// other than file:// and data: are aborted and reported. --handout adds reveal.js's
// showNotes: 'separate-page' (the deck reads ?handout): each slide's page is followed by its notes.
// Prints one JSON line: {"ok", "pdf", "slides", "bytes", "blocked": [...]}.

import { statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [deckArg, pdfArg, ...rest] = process.argv.slice(2);
if (!deckArg || !pdfArg) {
  console.error("usage: node tools/talk_pdf.mjs DECK.html OUT.pdf [--handout]");
  process.exit(2);
}
const handout = rest.includes("--handout");
const url = `${pathToFileURL(resolve(deckArg)).href}?print-pdf${handout ? "&handout" : ""}`;
const blocked = [];
let browser;
let ok = false;
let slides = 0;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (u.startsWith("file:") || u.startsWith("data:")) return route.continue();
    blocked.push(u);
    return route.abort();
  });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForFunction(() => window.Reveal && window.Reveal.isReady(), null, { timeout: 60_000 });
  // reveal.js lays the print pages out after "ready"; wait for them and for every image.
  await page.waitForFunction(() => document.querySelectorAll(".pdf-page").length > 0, null, { timeout: 60_000 });
  await page.evaluate(async () => {
    await document.fonts.ready;
    await Promise.all([...document.images].map((img) => img.complete ? 0 : new Promise((r) => { img.onload = img.onerror = r; })));
  });
  // No page break after the last page: Chromium would print an empty page at the end.
  // (the handout's last element is the last slide's notes, which reveal.js also breaks after).
  await page.addStyleTag({
    content: ".reveal .slides > :last-child { page-break-after: avoid !important; break-after: avoid !important; }",
  });
  slides = await page.evaluate(() => window.Reveal.getTotalSlides());
  await page.pdf({ path: pdfArg, printBackground: true, preferCSSPageSize: true });
  ok = blocked.length === 0;
} catch (err) {
  console.error(String(err && err.stack ? err.stack : err));
} finally {
  if (browser) await browser.close();
  let bytes = 0;
  try { bytes = statSync(pdfArg).size; } catch {}
  console.log(JSON.stringify({ ok, pdf: pdfArg, slides, bytes, blocked }));
  process.exit(ok ? 0 : 1);
}
