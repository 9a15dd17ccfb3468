// Headless Debian Chromium through playwright-core, and a ComfyUI frontend page that is ready to use.
// Shared by the browser-test drivers and scripts/build_workflows.mjs. Needs FRAMELOOM_NODE_MODULES (where
// playwright-core is installed); FRAMELOOM_CHROMIUM overrides /usr/bin/chromium.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.FRAMELOOM_NODE_MODULES, "noop.js"));
const { chromium } = require("playwright-core");

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.FRAMELOOM_CHROMIUM || "/usr/bin/chromium",
    // the build and CI machines have no network: background fetches would only fail noisily
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"],
  });
}

// Waits until the frontend has registered the node types (core and custom), i.e. a workflow can be loaded.
export function waitForComfy(page) {
  return page.waitForFunction(() => window.app && window.app.graph && window.LiteGraph
    && Object.keys(window.LiteGraph.registered_node_types).length > 50, null, { timeout: 120000 });
}

// A driver's command line, `node <driver>.mjs <server-url> <task.json>`: the server URL and the parsed task.
export function driverArgs() {
  const [url, taskPath] = process.argv.slice(2);
  return { url, task: JSON.parse(fs.readFileSync(taskPath, "utf8")) };
}

// Records the page's console errors and uncaught exceptions into `problems.consoleErrors` as {text, url} (the URL or
// stack tells whose they are), and dismisses any dialog, recording its message in `problems.dialogs` if given.
export function watchPage(page, problems) {
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.consoleErrors.push({ text: msg.text(), url: msg.location()?.url ?? "" });
  });
  page.on("pageerror", (err) => problems.consoleErrors.push({ text: String(err), url: String(err.stack ?? "") }));
  page.on("dialog", (dialog) => { problems.dialogs?.push(dialog.message()); dialog.dismiss().catch(() => {}); });
}

// A watched page (see watchPage) on the frontend, ready to use, as a returning user sees it: the Templates dialog a
// first visit opens over the canvas stays closed.
export async function openComfyPage(browser, url, problems) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  watchPage(page, problems);
  await page.request.post(`${url}/api/settings/Comfy.TutorialCompleted`, { data: true });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await waitForComfy(page);
  return page;
}
