// Drops saved output files back onto the real ComfyUI frontend (headless Chromium), as a user drags a video from the
// file manager onto the canvas, and reports the graph each one restored.
// Usage: node drop_driver.mjs <server-url> <task.json>   (task: {files: [{name, filename, subfolder, type, mime}]})
// One fresh page; before each drop its graph is cleared, the file is fetched from the server's /view and dropped on
// the canvas. Prints one JSON object.
import { driverArgs, launchChromium, openComfyPage } from "./comfy_page.mjs";

const { url, task } = driverArgs();
const browser = await launchChromium();
const report = { consoleErrors: [], results: [] };
try {
  const page = await openComfyPage(browser, url, report);
  for (const file of task.files) {
    const dropped = await page.evaluate(async (file) => {
      const app = window.app;
      app.graph.clear(); // whatever the page showed before, the drop alone must bring the graph back
      const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type });
      const resp = await fetch(`/view?${query}`);
      const bytes = await resp.blob();
      const data = new DataTransfer();
      data.items.add(new File([bytes], file.filename, { type: file.mime }));
      const canvas = app.canvasEl ?? document.querySelector("canvas#graph-canvas") ?? document.querySelector("canvas");
      const box = canvas.getBoundingClientRect();
      const at = { clientX: box.left + box.width / 2, clientY: box.top + box.height / 2 };
      canvas.dispatchEvent(new DragEvent("dragover", { bubbles: true, cancelable: true, dataTransfer: data, ...at }));
      canvas.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer: data, ...at }));
      for (let i = 0; i < 200 && app.graph._nodes.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      const graph = app.graph.serialize();
      return { status: resp.status, bytes: bytes.size,
               nodes: graph.nodes.map((n) => ({ id: n.id, type: n.type, widgets_values: n.widgets_values ?? null })),
               links: graph.links.length };
    }, file);
    report.results.push({ name: file.name, ...dropped });
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(report));
