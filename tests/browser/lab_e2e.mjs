// Real-browser end-to-end check of the course, driven by tests/browser/test_lab.py.
//
// Headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core: Playwright's own
// browser download does not work offline) opens a notebook in a running JupyterLab, runs all
// cells, moves a slider and types into a text box, and checks that the displayed output changes;
// then it opens a built slide deck and checks that reveal.js rendered its slides.
//
// Input (environment): LAB_URL, LAB_TOKEN, NOTEBOOK (path under Lab's root), DECK (file path of a
// .slides.html), SHOTS (folder for screenshots), CHROMIUM (browser binary). Output: one JSON line
// on stdout {"ok": bool, "steps": [...], "error": str}; exit status 0 only when every step passed.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const env = process.env;
const SHOTS = env.SHOTS || "build/screenshots";
const steps = [];
const started = Date.now();

function step(name, detail = "") {
  const entry = { name, detail, t: ((Date.now() - started) / 1000).toFixed(1) };
  steps.push(entry);
  console.error(`[e2e ${entry.t}s] ${name}${detail ? ": " + detail : ""}`);
}

async function shot(page, name) {
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage: false });
  step("screenshot", path);
}

// Poll `read()` until it returns something other than `before` (or time runs out).
async function changed(read, before, timeoutMs, what) {
  const end = Date.now() + timeoutMs;
  let now = before;
  while (Date.now() < end) {
    now = await read();
    if (now && now !== before) return now;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not change within ${timeoutMs / 1000} s`);
}

// A "Select Kernel" dialog (shown when Lab is unsure which kernel to start): take the default.
async function acceptKernelDialog(page, timeoutMs) {
  const dialog = page.locator(".jp-Dialog", { hasText: "Select Kernel" });
  try {
    await dialog.waitFor({ timeout: timeoutMs });
  } catch {
    return;
  }
  await dialog.locator(".jp-Dialog-button.jp-mod-accept").click();
  step("accepted the kernel dialog");
}

const kernelIdle = () =>
  document.querySelector(".jp-Notebook-ExecutionIndicator")?.dataset.status === "idle";

// The server's view: the notebook's kernel is started, idle and connected to this page.
async function kernelConnected(timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last = "no session yet";
  while (Date.now() < end) {
    try {
      const r = await fetch(`${env.LAB_URL}/api/sessions?token=${env.LAB_TOKEN}`);
      const sessions = await r.json();
      const k = sessions.find((s) => s.path.endsWith(env.NOTEBOOK))?.kernel;
      if (k) last = `kernel ${k.execution_state}, ${k.connections} connection(s)`;
      if (k && k.execution_state === "idle" && k.connections > 0) return last;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`the notebook's kernel did not connect in ${timeoutMs / 1000} s (${last})`);
}

// Run > Run All Cells, through the menu bar as a person would; true once a cell has started.
async function runAll(page) {
  await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
  await page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
  step("Run > Run All Cells");
  await acceptKernelDialog(page, 2_000);
  try {
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll(".jp-InputArea-prompt")].some((p) =>
          /\[(\*|\d+)\]/.test(p.textContent),
        ),
      null,
      { timeout: 15_000 },
    );
    return true;
  } catch {
    return false;
  }
}

async function lab(page) {
  const url = `${env.LAB_URL}/lab/tree/${env.NOTEBOOK}?token=${env.LAB_TOKEN}`;
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await page.locator(".jp-NotebookPanel .jp-Notebook").first().waitFor({ timeout: 60_000 });
  await acceptKernelDialog(page, 3_000);
  await page.waitForFunction(kernelIdle, null, { timeout: 60_000 });
  step("notebook open", await kernelConnected(60_000));

  if (!(await runAll(page))) {
    step("no cell started: running all cells again");
    if (!(await runAll(page))) throw new Error("Run All Cells started no cell");
  }

  // The sampler: a live slider and the histogram it draws into its Output widget.
  const sampler = page.locator(".jp-OutputArea-output .widget-vbox").first();
  const img = sampler.locator(".widget-output img").first();
  await img.waitFor({ timeout: 90_000 });
  await page.waitForFunction(kernelIdle, null, { timeout: 90_000 });
  step("cells ran: slider and histogram displayed");
  const slider = sampler.locator(".widget-slider").first();
  await slider.scrollIntoViewIfNeeded();
  await shot(page, "lab_1_after_run.png");

  const readImg = () => img.getAttribute("src");
  const readout = sampler.locator(".widget-readout").first();
  const beforeImg = await readImg();
  const beforeValue = (await readout.innerText()).trim();

  // Move the bptt slider with the keyboard on its handle (as a person using arrows would).
  const handle = slider.locator(".noUi-handle").first();
  await handle.click();
  for (let i = 0; i < 10; i++) await handle.press("ArrowRight");
  const afterValue = await changed(
    async () => (await readout.innerText()).trim(),
    beforeValue,
    10_000,
    "the slider's readout",
  );
  const afterImg = await changed(readImg, beforeImg, 45_000, "the histogram image");
  step("slider moved", `bptt ${beforeValue} -> ${afterValue}; histogram redrawn`);
  if (afterImg === beforeImg) throw new Error("histogram unchanged");
  await page.waitForFunction(kernelIdle, null, { timeout: 60_000 }); // every redraw done
  await shot(page, "lab_2_slider_moved.png");

  // The classifier box: type a verse, leave the box, and the probabilities and tokens follow.
  const box = page.locator(".widget-textarea textarea").first();
  const shown = page.locator(".jp-OutputArea-output .widget-vbox").nth(1).locator(".widget-output");
  await box.scrollIntoViewIfNeeded();
  const beforeText = (await shown.innerText()).trim();
  await box.click();
  await box.press("Control+A");
  await box.pressSequentially("a cold dark night of grief and tears", { delay: 5 });
  await box.press("Tab"); // continuous_update=False: the value is sent when the box loses focus
  const afterText = await changed(
    async () => (await shown.innerText()).trim(),
    beforeText,
    30_000,
    "the text box's output",
  );
  if (!afterText || afterText === beforeText) throw new Error("text output unchanged");
  const oneLine = (text) => text.replace(/\s+/g, " ").slice(0, 300);
  step("typed into the classifier box", oneLine(afterText));
  await shot(page, "lab_3_text_typed.png");
  return { beforeValue, afterValue, beforeText: oneLine(beforeText), afterText: oneLine(afterText) };
}

async function deck(page) {
  await page.goto(pathToFileURL(env.DECK).href);
  await page.waitForFunction(() => window.Reveal && window.Reveal.isReady(), null, { timeout: 30_000 });
  const sections = await page.locator(".reveal .slides section").count();
  if (sections < 1) throw new Error("the deck has no slides");
  const first = page.locator(".reveal .slides > section").first();
  if (!(await first.isVisible())) throw new Error("the first slide is not visible");
  const text = (await first.innerText()).trim();
  if (!text) throw new Error("the first slide shows no text");
  const total = await page.evaluate(() => window.Reveal.getTotalSlides());
  step("slide deck rendered", `${sections} sections, ${total} slides; first: ${text.split("\n")[0]}`);
  await shot(page, "slides_1_first.png");
  await page.keyboard.press("ArrowRight");
  await page.waitForTimeout(800);
  await shot(page, "slides_2_next.png");
  return { sections, total, first: text.split("\n")[0] };
}

const result = { ok: false, steps, error: "" };
let browser;
try {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
  step("chromium started", browser.version());
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => step("page error", String(err).slice(0, 200)));
  if (env.LAB_URL) {
    try {
      result.lab = await lab(page);
    } catch (err) {
      await shot(page, "lab_failure.png").catch(() => {});
      throw err;
    }
  }
  if (env.DECK) result.deck = await deck(page);
  result.ok = true;
} catch (err) {
  result.error = String(err && err.stack ? err.stack : err).slice(0, 2000);
} finally {
  if (browser) await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
