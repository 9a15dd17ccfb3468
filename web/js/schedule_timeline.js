// FrameLoom frontend extension: the Prompt Schedule node shows its keyframes on a frame timeline under its widgets,
// and a schedule the node would reject shows the same error, at the same line and column, before it is queued.
import { app } from "../../../scripts/app.js";
import { formatScheduleError, parseSchedule } from "./schedule_parse.js";
import { createTimelineView, TIMELINE_HEIGHT_PX } from "./schedule_timeline_view.js";

const EXTENSION_NAME = "FrameLoom.PromptScheduleTimeline";
const NODE_TYPE = "FrameLoomPromptSchedule"; // nodes/freenoise/schedule_node.py
const WIDGET_NAME = "frameloom_schedule_timeline";
// web/ is served under two URLs, so this module may be evaluated twice: one process-wide flag keeps one extension.
const REGISTERED = Symbol.for("FrameLoom.web.PromptScheduleTimeline");
const ERROR_OUTLINE = "1px solid #e5534b";

function framesOf(widget) {
  const n = Number(widget.value);
  return Number.isSafeInteger(n) && n >= 1 ? n : null;
}

function chainCallback(widget, after) {
  const previous = widget.callback;
  widget.callback = function () {
    const result = previous?.apply(this, arguments);
    after();
    return result;
  };
}

/** Select the error's character in the text box, so the user lands where to fix it. */
function selectError(textarea, error) {
  if (!(textarea instanceof HTMLTextAreaElement)) return;
  const char = Array.from(textarea.value.slice(error.offset, error.offset + 2))[0] ?? "";
  textarea.focus();
  textarea.setSelectionRange(error.offset, error.offset + char.length);
}

function attachTimeline(node) {
  const text = node.widgets?.find((w) => w.name === "text");
  const frames = node.widgets?.find((w) => w.name === "frames");
  if (!text || !frames) {
    console.warn(`[FrameLoom] ${NODE_TYPE} has no text/frames widget; the timeline is not shown`);
    return;
  }
  const textarea = text.element ?? text.inputEl;
  const view = createTimelineView((error) => selectError(textarea, error));
  let shown = null;
  const refresh = () => {
    const value = typeof text.value === "string" ? text.value : String(text.value ?? "");
    const length = framesOf(frames);
    const key = `${length}\u0000${value}`;
    if (key === shown) return; // also runs on every draw: only re-render on a change
    shown = key;
    const result = parseSchedule(value, length);
    const error = result.error;
    const span = length ?? (result.entries ? result.entries[result.entries.length - 1].frame + 1 : 1);
    view.render(result, span, value, error ? formatScheduleError(error) : "");
    if (textarea instanceof HTMLElement) {
      textarea.style.outline = error ? ERROR_OUTLINE : "";
      textarea.setAttribute("aria-invalid", error ? "true" : "false");
    }
  };

  const heightBefore = node.size[1];
  const widget = node.addDOMWidget(WIDGET_NAME, "frameloom-timeline", view.root, {
    serialize: false, // a view, not a value: saved workflows and queued prompts must not change
    hideOnZoom: false,
    getMinHeight: () => TIMELINE_HEIGHT_PX,
    getMaxHeight: () => TIMELINE_HEIGHT_PX,
    onDraw: refresh, // catches values set without a callback (workflow load, number widgets set from code)
  });
  widget.serialize = false;
  chainCallback(text, refresh); // typing: the textarea's input event calls it
  chainCallback(frames, refresh);
  const onConfigure = node.onConfigure;
  node.onConfigure = function () {
    const result = onConfigure?.apply(this, arguments);
    refresh();
    return result;
  };
  refresh();
  // a new node grows by the timeline, so the text box keeps its height (a loaded node gets its saved size after this)
  const min = node.computeSize();
  node.setSize([Math.max(node.size[0], min[0]), Math.max(heightBefore + TIMELINE_HEIGHT_PX, min[1])]);
}

if (!globalThis[REGISTERED]) {
  globalThis[REGISTERED] = true;
  app.registerExtension({
    name: EXTENSION_NAME,
    beforeRegisterNodeDef(nodeType, nodeData) {
      if (nodeData?.name !== NODE_TYPE) return;
      const onNodeCreated = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        const result = onNodeCreated?.apply(this, arguments);
        attachTimeline(this);
        return result;
      };
    },
  });
}
