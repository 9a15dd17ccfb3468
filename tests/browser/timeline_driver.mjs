// Checks the Prompt Schedule timeline widget in the real ComfyUI frontend (headless Chromium).
// Usage: node timeline_driver.mjs <server-url> <task.json>
//   task: {steps: [{name, text?, type?, frames?, frames_silently?, click_error?}], workflow, screenshot_dir?}
// Adds one Prompt Schedule node, applies each step the way a user does (fills or types into the text box, sets
// `frames` through the widget), and records what the timeline shows after each; then loads `workflow` and records the
// schedule node's timeline and its saved values. Prints one JSON object.
import fs from "node:fs";
import path from "node:path";
import { driverArgs, launchChromium, openComfyPage } from "./comfy_page.mjs";

const NODE_TYPE = "FrameLoomPromptSchedule";
const { url, task } = driverArgs();
const workflow = JSON.parse(fs.readFileSync(task.workflow, "utf8"));

// What the widget shows, read from the page: markers with their measured place on the bar, labels, texts, state.
function inspectTimeline(id) {
  const node = window.app.graph.getNodeById(id);
  const widgets = node.widgets.filter((w) => w.name === "frameloom_schedule_timeline");
  const root = widgets[0].element;
  const bar = root.querySelector(".frameloom-timeline-bar").getBoundingClientRect();
  const all = (selector) => [...root.querySelectorAll(selector)];
  const textarea = node.widgets.find((w) => w.name === "text").element;
  return {
    timelineWidgets: widgets.length,
    state: root.dataset.state,
    visible: bar.width > 0 && bar.height > 0,
    markers: all(".frameloom-timeline-marker").map((m) => {
      const box = m.getBoundingClientRect();
      return { frame: Number(m.dataset.frame), left: m.style.left, title: m.title,
               fraction: (box.left - bar.left) / (bar.width - box.width) };
    }),
    labels: all(".frameloom-timeline-label").map((l) => l.textContent),
    segments: all(".frameloom-timeline-segment").map((s) => s.textContent),
    status: root.querySelector(".frameloom-timeline-status").textContent,
    source: root.querySelector(".frameloom-timeline-source").textContent,
    errorAt: root.querySelector(".frameloom-timeline-error-at")?.textContent ?? null,
    elementTags: [...new Set(all("*").map((e) => e.tagName.toLowerCase()))].sort(),
    ariaInvalid: textarea.getAttribute("aria-invalid"),
    selection: [textarea.selectionStart, textarea.selectionEnd],
    focused: document.activeElement === textarea,
    widgetsValues: node.serialize().widgets_values,
  };
}

const browser = await launchChromium();
const report = { consoleErrors: [], dialogs: [], steps: [] };
try {
  const page = await openComfyPage(browser, url, report);

  const nodeId = await page.evaluate((type) => {
    const app = window.app;
    app.graph.clear();
    const node = window.LiteGraph.createNode(type);
    node.pos = [120, 140]; // clear of the menu bar over the canvas' top left
    app.graph.add(node);
    app.canvas.ds.offset = [0, 0];
    app.canvas.ds.scale = 1;
    app.graph.setDirtyCanvas(true, true);
    return node.id;
  }, NODE_TYPE);
  const textarea = await page.evaluateHandle(
    (id) => window.app.graph.getNodeById(id).widgets.find((w) => w.name === "text").element, nodeId);
  const settle = () => page.evaluate(() => new Promise((resolve) => {
    window.app.graph.setDirtyCanvas(true, true);
    requestAnimationFrame(() => requestAnimationFrame(resolve)); // the canvas draws, DOM widgets are placed
  }));

  for (const step of task.steps) {
    if (step.frames !== undefined) {
      // as the number widget does on a user's edit: setValue runs the widget's callback
      await page.evaluate(({ id, frames, silently }) => {
        const node = window.app.graph.getNodeById(id);
        const widget = node.widgets.find((w) => w.name === "frames");
        if (silently) widget.value = frames; // as a script or a workflow load does: no callback
        else widget.setValue(frames, { node, canvas: window.app.canvas });
      }, { id: nodeId, frames: step.frames, silently: Boolean(step.frames_silently) });
    }
    if (step.text !== undefined) await textarea.fill(step.text);
    if (step.type !== undefined) {
      await textarea.evaluate((el) => el.setSelectionRange(el.value.length, el.value.length));
      await textarea.focus();
      await page.keyboard.type(step.type);
    }
    await settle();
    if (step.click_error) {
      await textarea.evaluate((el) => { el.blur(); el.setSelectionRange(0, 0); });
      await page.click(".frameloom-timeline-source");
    }
    const seen = await page.evaluate(inspectTimeline, nodeId);
    if (task.screenshot_dir) await page.screenshot({ path: path.join(task.screenshot_dir, `${step.name}.png`) });
    report.steps.push({ name: step.name, ...seen });
  }
  report.promptInputs = await page.evaluate(
    async (id) => (await window.app.graphToPrompt()).output[id]?.inputs ?? null, nodeId);
  report.pwned = await page.evaluate(() => window.__frameloomPwned ?? null);
  report.injectedImages = await page.evaluate(() => document.querySelectorAll('img[src="x"]').length);
  report.registered = await page.evaluate(
    () => window.app.extensions.filter((e) => e.name === "FrameLoom.PromptScheduleTimeline").length);

  // The shipped workflow: it loads without warnings, its timeline shows, and saving gives back the same values.
  Object.assign(report, await page.evaluate(async ({ workflow, type }) => {
    const warnings = [];
    const origWarn = console.warn;
    console.warn = (...args) => { warnings.push(args.map(String).join(" ")); origWarn(...args); };
    try {
      await window.app.loadGraphData(workflow, true, true, "frameloom-timeline-test");
    } finally {
      console.warn = origWarn;
    }
    const node = window.app.graph._nodes.find((n) => n.type === type);
    const saved = window.app.graph.serialize().nodes.find((n) => n.id === node.id);
    const prompt = await window.app.graphToPrompt();
    return { loadWarnings: warnings, loadedNodeId: node.id, savedWidgetsValues: saved.widgets_values,
             loadedPromptInputs: prompt.output[node.id].inputs };
  }, { workflow, type: NODE_TYPE }));
  await settle();
  report.loaded = await page.evaluate(inspectTimeline, report.loadedNodeId);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
