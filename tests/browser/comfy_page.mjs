// Headless Debian Chromium through playwright-core, and a ComfyUI frontend page that is ready to use.
// Shared by the browser-test drivers and scripts/build_workflows.mjs. Needs FRAMELOOM_NODE_MODULES (where
// playwright-core is installed); FRAMELOOM_CHROMIUM overrides /usr/bin/chromium.
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
