// FrameLoom frontend extension: every FrameLoom node whose UI output carries an animated preview shows it on the node.
import { app } from "../../../scripts/app.js";
import { api } from "../../../scripts/api.js";
import { describe, readPreview, viewQuery } from "./preview_data.js";
import { showPreview } from "./preview_widget.js";

const EXTENSION_NAME = "FrameLoom.AnimatedPreview";
// ComfyUI serves web/ twice (under the module name and under pyproject's project name), so this file is evaluated
// twice as two distinct modules; a process-wide flag keeps the extension, and its onExecuted wrapper, single.
const REGISTERED = Symbol.for("FrameLoom.web.AnimatedPreview");

function addPreviewHandler(nodeType) {
  const previous = nodeType.prototype.onExecuted;
  nodeType.prototype.onExecuted = function (output) {
    const result = previous?.apply(this, arguments);
    const preview = readPreview(output);
    if (preview) showPreview(this, preview, api.apiURL(`/view?${viewQuery(preview)}`), describe(preview));
    return result;
  };
}

if (!globalThis[REGISTERED]) {
  globalThis[REGISTERED] = true;
  app.registerExtension({
    name: EXTENSION_NAME,
    beforeRegisterNodeDef(nodeType, nodeData) {
      if (String(nodeData?.name ?? "").startsWith("FrameLoom")) addPreviewHandler(nodeType);
    },
  });
}
