// Real-browser check of the talk deck (build/slides/ulmfit-talk.html), driven by tests/browser/test_talk.py.
//
// Headless Chromium (Debian's /usr/bin/chromium via playwright-core, as lab_e2e.mjs) opens the deck
// from its file, steps through every slide with the keyboard as a presenter would (ArrowRight), and
// records for each slide: its title, the length of its speaker notes, its visible words and whether
// every image on it loaded. Any request that is not file: or data: is aborted and reported (the deck
// must work offline), as is every failed request, HTTP error and page error. Then it presses S and
// checks that the speaker view opens and shows the current slide's notes. Screenshots of a few slides
// go to SHOTS (talk_*.png).
//
// Input (environment): DECK (file path), SHOTS (folder), CHROMIUM (browser binary), SHOT_SLIDES
// (comma-separated 1-based slide numbers to screenshot; default "1,2"). Output: one JSON line on
// stdout {"ok", "total", "slides": [...], "failed": [...], "external": [...], "errors": [...],
// "speaker": {...}, "error"}; exit status 0 only when the script itself ran to the end.

import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const env = process.env;
const SHOTS = env.SHOTS || "build/screenshots";
const wanted = new Set((env.SHOT_SLIDES || "1,2").split(",").map((s) => Number(s.trim())));
const result = { ok: false, total: 0, slides: [], failed: [], external: [], errors: [], shots: [], error: "" };
const log = (msg) => console.error(`[talk e2e] ${msg}`);

function watch(page, where) {
  page.on("requestfailed", (req) => {
    if (!req.url().startsWith("about:")) result.failed.push(`${where}: ${req.url()} (${req.failure()?.errorText})`);
  });
  page.on("response", (res) => {
    if (res.status() >= 400) result.failed.push(`${where}: ${res.url()} (HTTP ${res.status()})`);
  });
  page.on("pageerror", (err) => result.errors.push(`${where}: ${String(err).slice(0, 300)}`));
}

async function current(page) {
  return page.evaluate(() => {
    const s = window.Reveal.getCurrentSlide();
    const heading = s.querySelector("h1, h2");
    const notes = s.querySelector("aside.notes");
    const clone = s.cloneNode(true);
    clone.querySelectorAll("aside.notes").forEach((a) => a.remove());
    const text = clone.textContent.replace(/\s+/g, " ").trim();
    const imgs = [...s.querySelectorAll("img")];
    return {
      index: window.Reveal.getIndices().h,
      title: heading ? heading.textContent.trim() : text.slice(0, 60),
      notes: notes ? notes.textContent.trim().length : 0,
      words: text ? text.split(" ").length : 0,
      images: imgs.length,
      imagesOk: imgs.every((img) => img.complete && img.naturalWidth > 0),
      appendix: s.classList.contains("appendix"),
    };
  });
}

let browser;
try {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  // Offline: anything that is not the deck's own files is refused and reported.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith("file:") || url.startsWith("data:") || url.startsWith("about:")) return route.continue();
    result.external.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  watch(page, "deck");
  await page.goto(pathToFileURL(resolve(env.DECK)).href, { waitUntil: "load" });
  await page.waitForFunction(() => window.Reveal && window.Reveal.isReady(), null, { timeout: 30_000 });
  result.total = await page.evaluate(() => window.Reveal.getTotalSlides());
  log(`deck ready: ${result.total} slides`);
  for (let i = 0; i < result.total; i++) {
    if (i > 0) {
      await page.keyboard.press("ArrowRight");
      await page.waitForFunction((h) => window.Reveal.getIndices().h === h, i, { timeout: 5_000 });
    }
    await page.waitForFunction(
      () => [...window.Reveal.getCurrentSlide().querySelectorAll("img")].every((img) => img.complete),
      null,
      { timeout: 10_000 },
    );
    const info = await current(page);
    result.slides.push(info);
    if (wanted.has(i + 1)) {
      await page.waitForTimeout(400); // the fade transition
      const path = join(SHOTS, `talk_${String(i + 1).padStart(2, "0")}.png`);
      await page.screenshot({ path });
      result.shots.push(path);
    }
  }
  log(`stepped through ${result.slides.length} slides`);

  // The presenter view: S opens reveal.js's speaker window, built from notes.js alone (offline).
  await page.keyboard.press("Home");
  await page.waitForFunction(() => window.Reveal.getIndices().h === 0, null, { timeout: 5_000 });
  const [popup] = await Promise.all([context.waitForEvent("page", { timeout: 15_000 }), page.keyboard.press("s")]);
  watch(popup, "speaker view");
  await popup.waitForSelector(".speaker-controls-notes .value", { timeout: 20_000 });
  await popup.waitForFunction(
    () => document.querySelector(".speaker-controls-notes .value").textContent.trim().length > 20,
    null,
    { timeout: 20_000 },
  );
  const notes = (await popup.locator(".speaker-controls-notes .value").innerText()).trim();
  result.speaker = { notes: notes.slice(0, 200) };
  await popup.screenshot({ path: join(SHOTS, "talk_speaker_view.png") });
  result.shots.push(join(SHOTS, "talk_speaker_view.png"));
  result.ok = true;
} catch (err) {
  result.error = String(err && err.stack ? err.stack : err).slice(0, 2000);
} finally {
  if (browser) await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
