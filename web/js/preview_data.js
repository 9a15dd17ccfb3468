// Reads FrameLoom's animated preview from a node's UI output (nodes/preview.py writes it) and builds its /view query.
// Pure functions: no DOM, no app, so a malformed message can only ever yield `null`.

export const PREVIEW_KEY = "frameloom_preview"; // nodes/preview.py PREVIEW_KEY
const FOLDER_TYPES = new Set(["temp", "output", "input"]);

function positive(value) {
  const n = Number(value);
  return Number.isFinite(n) && n > 0 ? n : null;
}

/** The first valid preview entry of `output`, normalised, or null when the output carries none. */
export function readPreview(output) {
  const entries = output?.[PREVIEW_KEY];
  const raw = Array.isArray(entries) ? entries[0] : null;
  if (!raw || typeof raw.filename !== "string" || raw.filename === "") return null;
  const type = FOLDER_TYPES.has(raw.type) ? raw.type : null;
  if (type === null) return null;
  return {
    filename: raw.filename,
    subfolder: typeof raw.subfolder === "string" ? raw.subfolder : "",
    type,
    frameRate: positive(raw.frame_rate),
    frameCount: positive(raw.frame_count),
    sourceFrames: positive(raw.source_frames),
    width: positive(raw.width),
    height: positive(raw.height),
  };
}

/** Query string for ComfyUI's /view route. URLSearchParams escapes every value, whatever the file is called. */
export function viewQuery(preview) {
  const params = new URLSearchParams({ filename: preview.filename, subfolder: preview.subfolder, type: preview.type });
  params.set("rand", Math.random().toString(36).slice(2)); // the server reuses names after its temp folder is wiped
  return params.toString();
}

/** One line for the caption, e.g. "120 of 1000 frames · 11.52 fps · 512×288". Plain text, never markup. */
export function describe(preview) {
  const parts = [];
  if (preview.frameCount) {
    const sampled = preview.sourceFrames && preview.sourceFrames > preview.frameCount;
    parts.push(sampled ? `${preview.frameCount} of ${preview.sourceFrames} frames` : `${preview.frameCount} frames`);
  }
  if (preview.frameRate) parts.push(`${Number(preview.frameRate.toFixed(2))} fps`);
  if (preview.width && preview.height) parts.push(`${preview.width}×${preview.height}`);
  return parts.join(" · ");
}
