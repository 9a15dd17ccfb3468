// Checks FrameLoom's animated-preview extension in the real ComfyUI frontend (headless Chromium).
// Usage: node preview_driver.mjs <server-url> <task.json>
//   task: {workflow, node_type, hostile, hostile_file, screenshot?}
// Loads the workflow the drag-and-drop way with the node's title set to `hostile`, queues it from the page (so the
// page's own websocket receives the node's UI output), waits for the preview, then feeds the node a UI output naming
// `hostile_file` (a real file the test put in temp). Prints one JSON object with what it observed.
import fs from "node:fs";
import { launchChromium, waitForComfy } from "./comfy_page.mjs";

const [url, taskPath] = process.argv.slice(2);
const task = JSON.parse(fs.readFileSync(taskPath, "utf8"));
const workflow = JSON.parse(fs.readFileSync(task.workflow, "utf8"));
for (const node of workflow.nodes) if (node.type === task.node_type) node.title = task.hostile;

const browser = await launchChromium();
const consoleErrors = [];
const dialogs = [];
const report = { consoleErrors, dialogs };
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  page.on("console", (msg) => {
    if (msg.type() === "error") consoleErrors.push({ text: msg.text(), url: msg.location()?.url ?? "" });
  });
  page.on("pageerror", (err) => consoleErrors.push({ text: String(err), url: String(err.stack ?? "") }));
  page.on("dialog", (dialog) => { dialogs.push(dialog.message()); dialog.dismiss().catch(() => {}); });
  if (task.screenshot) {
    // a first visit opens the Templates dialog over the canvas; a returning user's setting keeps it closed
    await page.request.post(`${url}/api/settings/Comfy.TutorialCompleted`, { data: true });
  }
  await page.goto(url, { waitUntil: "domcontentloaded" });
  await waitForComfy(page);

  // 1. Queue from the page and wait for the server to finish the prompt.
  Object.assign(report, await page.evaluate(async ({ workflow, nodeType }) => {
    const app = window.app;
    const api = window.comfyAPI.api.api;
    await app.loadGraphData(workflow, true, true, "frameloom-preview-test");
    const node = app.graph._nodes.find((n) => n.type === nodeType);
    const before = await app.graphToPrompt();
    const { prompt_id: promptId } = await api.queuePrompt(0, before);
    let status = null;
    for (let i = 0; i < 1200 && !status; i++) {
      const history = await (await fetch(`/history/${promptId}`)).json();
      const entry = history[promptId];
      if (entry?.status?.completed !== undefined && ["success", "error"].includes(entry.status.status_str)) {
        status = entry.status.status_str;
      } else {
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const extensionFiles = (await (await fetch("/extensions")).json()).filter((f) => f.endsWith("/frameloom_preview.js"));
    return { promptId, status, nodeId: node.id, extensionFiles,
             promptBefore: JSON.stringify(before.output[node.id].inputs) };
  }, { workflow, nodeType: task.node_type }));

  // 2. The preview arrives over the websocket after the node ran; wait until the image has decoded.
  await page.waitForFunction((id) => {
    const img = window.app.graph.getNodeById(id)?.widgets?.find((w) => w.name === "frameloom_preview")?.element
      ?.querySelector("img");
    return img && img.complete && img.naturalWidth > 0;
  }, report.nodeId, { timeout: 60000 });

  const inspect = async (id) => page.evaluate(async (id) => {
    const node = window.app.graph.getNodeById(id);
    const widget = node.widgets.find((w) => w.name === "frameloom_preview");
    const root = widget.element;
    const img = root.querySelector("img");
    const caption = root.querySelector(".frameloom-preview-caption");
    const resp = await fetch(img.src);
    const bytes = new Uint8Array(await resp.arrayBuffer());
    const fourcc = (o) => String.fromCharCode(...bytes.slice(o, o + 4));
    return {
      src: img.src, status: resp.status, contentType: resp.headers.get("content-type"),
      riff: fourcc(0), webp: fourcc(8), animated: new TextDecoder("latin1").decode(bytes).includes("ANIM"),
      naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, alt: img.alt, imgTitle: img.title,
      captionText: caption.textContent, captionTitle: caption.title, descendants: root.querySelectorAll("*").length,
      nodeSize: [...node.size], widgetHeight: widget.computedHeight ?? null,
      widgetsInNode: node.widgets.filter((w) => w.name === "frameloom_preview").length,
      serializedWidgets: JSON.stringify(node.serialize().widgets_values),
      promptAfter: JSON.stringify((await window.app.graphToPrompt()).output[id].inputs),
    };
  }, id);
  report.preview = await inspect(report.nodeId);
  if (task.screenshot) {
    await page.screenshot({ path: task.screenshot });
  }

  // 3. A hostile file name arrives in a UI output, exactly as the websocket hands it to onExecuted.
  await page.evaluate(({ id, file }) => {
    const node = window.app.graph.getNodeById(id);
    node.onExecuted({ frameloom_preview: [{ filename: file, subfolder: "", type: "temp", format: "image/webp",
                                            frame_rate: 8, frame_count: 2, width: 96, height: 64 }] });
  }, { id: report.nodeId, file: task.hostile_file });
  await page.waitForFunction(({ id, file }) => {
    const img = window.app.graph.getNodeById(id).widgets.find((w) => w.name === "frameloom_preview").element
      .querySelector("img");
    return img.title === file && img.complete && img.naturalWidth > 0;
  }, { id: report.nodeId, file: task.hostile_file }, { timeout: 30000 });
  await page.waitForTimeout(500); // give an injected onerror handler time to fire
  report.hostile = await inspect(report.nodeId);
  report.injected = await page.evaluate(() => document.querySelectorAll('img[src="x"]').length);

  // 4. Evaluating the module again under another URL (as a second web path does) must not register it twice.
  report.registeredBefore = await page.evaluate(
    () => window.app.extensions.filter((e) => e.name === "FrameLoom.AnimatedPreview").length);
  report.reimportError = await page.evaluate(async (file) => {
    try { await import(`${file}?again=1`); return null; } catch (err) { return String(err); }
  }, report.extensionFiles[0]);
  report.registeredAfter = await page.evaluate(
    () => window.app.extensions.filter((e) => e.name === "FrameLoom.AnimatedPreview").length);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
