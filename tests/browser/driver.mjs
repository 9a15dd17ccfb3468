// Drives the real ComfyUI frontend in headless Chromium for FrameLoom's browser tests.
// Usage: node driver.mjs <server-url> <task.json>   (task: {workflows: [{name, path}], queue: bool, screenshot_dir?})
// Prints one JSON object: per workflow the missing node types, widget warnings, the prompt id it queued, plus console errors.
import fs from "node:fs";
import path from "node:path";
import { launchChromium, waitForComfy } from "./comfy_page.mjs";

const [url, taskPath] = process.argv.slice(2);
const task = JSON.parse(fs.readFileSync(taskPath, "utf8"));

const browser = await launchChromium();
const consoleErrors = [];
const results = [];
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on("console", (msg) => { if (msg.type() === "error") consoleErrors.push(msg.text()); });
  page.on("pageerror", (err) => consoleErrors.push(String(err)));
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await waitForComfy(page);

  for (const wf of task.workflows) {
    const workflow = JSON.parse(fs.readFileSync(wf.path, "utf8"));
    const result = await page.evaluate(async ({ workflow, queue }) => {
      const warnings = [];
      const origWarn = console.warn;
      console.warn = (...args) => { warnings.push(args.map(String).join(" ")); origWarn(...args); };
      try {
        await window.app.loadGraphData(workflow, true, true, "frameloom-test");
        // Shipped workflows carry user-sized settings; CI runs them with the small values stored beside them.
        for (const [id, values] of Object.entries(workflow.extra?.frameloom?.test_widgets ?? {})) {
          const node = window.app.graph.getNodeById(Number(id));
          for (const [name, value] of Object.entries(values)) {
            const widget = node.widgets.find((w) => w.name === name);
            if (!widget) throw new Error(`test_widgets: node ${id} (${node.type}) has no widget ${name}`);
            widget.value = value;
          }
        }
        const registered = window.LiteGraph.registered_node_types;
        const missing = workflow.nodes.map((n) => n.type).filter((t) => !registered[t]);
        const nodeCount = window.app.graph._nodes.length;
        const p = await window.app.graphToPrompt();
        let promptId = null, queueError = null;
        if (queue) {
          const resp = await fetch("/prompt", {
            method: "POST", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ prompt: p.output, client_id: "frameloom-browser",
                                   extra_data: { extra_pnginfo: { workflow: p.workflow } } }),
          });
          const body = await resp.json();
          if (resp.ok) promptId = body.prompt_id; else queueError = body;
        }
        return { missing, warnings, nodeCount, apiNodes: Object.keys(p.output).length, promptId, queueError,
                 classTypes: Object.values(p.output).map((n) => n.class_type) };
      } finally {
        console.warn = origWarn;
      }
    }, { workflow, queue: task.queue !== false });
    if (task.screenshot_dir) {
      await page.screenshot({ path: path.join(task.screenshot_dir, `${wf.name}.png`) });
    }
    results.push({ name: wf.name, ...result });
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify({ results, consoleErrors }));
