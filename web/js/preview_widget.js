// The animated preview shown on a FrameLoom node: an <img> (looping WebP) and a one-line caption in a DOM widget.
// Built from DOM nodes with textContent / properties only: titles and file names are never parsed as HTML.

const WIDGET_NAME = "frameloom_preview";
const CAPTION_PX = 18;
const MIN_PX = 64;
const MAX_PX = 768; // a tall preview should not push the node's outputs off screen
const SIDE_MARGIN_PX = 20;

const views = new WeakMap(); // node -> {root, img, caption, aspect}

function previewHeight(node, view) {
  const width = Math.max(node.size[0] - SIDE_MARGIN_PX, MIN_PX);
  return Math.min(Math.max(width / view.aspect + CAPTION_PX, MIN_PX), MAX_PX);
}

/** Grow the node (never shrink it) so the preview fits at the node's current width. */
function fitNode(node) {
  const min = node.computeSize();
  node.setSize([Math.max(node.size[0], min[0]), Math.max(node.size[1], min[1])]);
  node.setDirtyCanvas?.(true, true);
}

function styled(tag, style) {
  const el = document.createElement(tag);
  Object.assign(el.style, style);
  return el;
}

function createView(node) {
  // pointer-events: none lets drags and wheel zoom fall through to the canvas, as on the node body.
  const root = styled("div", {
    display: "flex", flexDirection: "column", alignItems: "center", width: "100%", height: "100%",
    overflow: "hidden", pointerEvents: "none",
  });
  root.className = "frameloom-preview";
  const img = styled("img", { flex: "1 1 auto", minHeight: "0", width: "100%", objectFit: "contain" });
  img.decoding = "async"; // decode off the main thread; the page stays responsive while frames load
  img.draggable = false;
  const caption = styled("div", {
    flex: `0 0 ${CAPTION_PX}px`, maxWidth: "100%", overflow: "hidden", textOverflow: "ellipsis",
    whiteSpace: "nowrap", font: "11px sans-serif", lineHeight: `${CAPTION_PX}px`, opacity: "0.75",
    color: "var(--input-text, #ddd)",
  });
  caption.className = "frameloom-preview-caption";
  root.append(img, caption);

  const view = { root, img, caption, aspect: 16 / 9 };
  const widget = node.addDOMWidget(WIDGET_NAME, "frameloom-preview", root, {
    serialize: false, // not a value: workflows and prompts must not change when a preview is shown
    hideOnZoom: false,
    getMinHeight: () => previewHeight(node, view),
  });
  widget.serialize = false;
  const onRemove = widget.onRemove;
  widget.onRemove = function () {
    img.removeAttribute("src"); // stop decoding frames of a node that is gone
    views.delete(node);
    return onRemove?.apply(this, arguments);
  };

  img.addEventListener("load", () => {
    if (img.naturalWidth > 0 && img.naturalHeight > 0) view.aspect = img.naturalWidth / img.naturalHeight;
    fitNode(node);
  });
  img.addEventListener("error", () => {
    if (!img.getAttribute("src")) return; // cleared on removal
    caption.textContent = "preview could not be loaded";
    console.warn("[FrameLoom] preview could not be loaded:", img.src);
  });
  views.set(node, view);
  return view;
}

/** Show `preview` (from readPreview) on `node`, loading the image from `src`. */
export function showPreview(node, preview, src, captionText) {
  const view = views.get(node) ?? createView(node);
  if (preview.width && preview.height) view.aspect = preview.width / preview.height;
  view.img.alt = `${node.title ?? ""} preview`;
  view.img.title = preview.filename;
  view.caption.textContent = captionText;
  view.caption.title = preview.filename;
  view.img.src = src;
  fitNode(node);
}
