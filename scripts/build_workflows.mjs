// Builds the shipped workflows in the real ComfyUI frontend from compact specs, so every file is exactly what the
// frontend itself serializes (node sizes, widget order, link ids), and saves a thumbnail of each graph.
// Usage: node scripts/build_workflows.mjs <server-url> <spec.json>... (needs FRAMELOOM_NODE_MODULES; writes workflows/)
// Spec: {name, nodes: [{id, type, pos:[x,y], widgets:{name: value}, title?}], links: [[fromId, outSlot, toId, inputName]]}
import fs from "node:fs";
import path from "node:path";
import { launchChromium, waitForComfy } from "../tests/browser/comfy_page.mjs";

const [url, ...specPaths] = process.argv.slice(2);
const outDir = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "workflows");

const browser = await launchChromium();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await waitForComfy(page);
  for (const specPath of specPaths) {
    const spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
    const built = await page.evaluate((spec) => {
      const graph = window.app.graph;
      graph.clear();
      const made = {};
      for (const n of spec.nodes) {
        const node = window.LiteGraph.createNode(n.type);
        if (!node) throw new Error(`node type ${n.type} is not registered`);
        node.pos = n.pos;
        if (n.title) node.title = n.title;
        graph.add(node);
        for (const [name, value] of Object.entries(n.widgets || {})) {
          const w = (node.widgets || []).find((x) => x.name === name);
          if (!w) throw new Error(`${n.type} has no widget ${name}`);
          w.value = value;
        }
        made[n.id] = node;
      }
      for (const [from, slot, to, inputName] of spec.links) {
        const target = made[to];
        const idx = target.findInputSlot(inputName);
        if (idx < 0) throw new Error(`${target.type} has no input ${inputName}`);
        made[from].connect(slot, target, idx);
      }
      graph.setDirtyCanvas(true, true);
      const testWidgets = {};
      for (const [specId, values] of Object.entries(spec.test_widgets || {})) testWidgets[made[specId].id] = values;
      return { workflow: graph.serialize(), testWidgets };
    }, spec);
    const workflow = built.workflow;
    workflow.extra = { ...(workflow.extra || {}), frameloom: { built_from: path.basename(specPath) } };
    if (Object.keys(built.testWidgets).length) workflow.extra.frameloom.test_widgets = built.testWidgets;
    fs.writeFileSync(path.join(outDir, `${spec.name}.json`), JSON.stringify(workflow, null, 2) + "\n");
    // first-run dialogs and banners would cover the graph in the thumbnail
    for (let i = 0; i < 3; i++) await page.keyboard.press("Escape");
    await page.evaluate(() => {
      document.querySelectorAll("[role=dialog], .p-dialog-mask, .p-toast").forEach((el) => el.remove());
      // the "Introducing Nodes 2.0" banner: hide the outermost box around its text that is still banner-sized
      const text = [...document.querySelectorAll("body *")].find((el) => el.children.length === 0
        && /Introducing Nodes 2\.0/.test(el.textContent || ""));
      let banner = text;
      while (banner && banner.parentElement && banner.parentElement.getBoundingClientRect().height < 60) {
        banner = banner.parentElement;
      }
      if (banner) banner.style.display = "none";
      const canvas = window.app.canvas;
      const nodes = window.app.graph._nodes;
      const minX = Math.min(...nodes.map((n) => n.pos[0])), minY = Math.min(...nodes.map((n) => n.pos[1]));
      canvas.ds.scale = 0.9;
      canvas.ds.offset = [130 - minX, 170 - minY];
      canvas.setDirty(true, true);
    });
    await page.waitForTimeout(500);
    await page.locator("#graph-canvas").screenshot({ path: path.join(outDir, `${spec.name}.jpg`), type: "jpeg", quality: 70 });
    console.log(`wrote workflows/${spec.name}.json and .jpg`);
  }
} finally {
  await browser.close();
}
