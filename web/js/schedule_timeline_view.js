// The prompt-schedule timeline: a bar over frames 0..frames with a marker, a frame label and the prompt at each
// keyframe, or, for a schedule that does not parse, the error with line:column and the offending line with the
// character marked. Built from DOM nodes with textContent only: prompts are user text and never parsed as HTML.

export const TIMELINE_HEIGHT_PX = 84;
const BAR_PX = 22;
const SCALE_PX = 14;
const ROW_PX = 16;
const SNIPPET_CONTEXT = 40; // code points shown on each side of an error in a long line
const ERROR_COLOR = "#e5534b";
// segment fills: alternate so neighbouring prompts stay apart whatever the theme
const FILLS = ["rgba(90, 150, 230, 0.45)", "rgba(110, 190, 120, 0.45)", "rgba(220, 160, 70, 0.45)",
               "rgba(180, 110, 210, 0.45)"];

function styled(tag, className, style) {
  const el = document.createElement(tag);
  el.className = className;
  Object.assign(el.style, style);
  return el;
}

const percent = (frame, frames) => `${(100 * frame) / frames}%`;

function addKeyframe(view, entry, end, frames, index) {
  const left = percent(entry.frame, frames);
  const segment = styled("div", "frameloom-timeline-segment", {
    position: "absolute", top: "0", bottom: "0", left, width: percent(end - entry.frame, frames),
    background: FILLS[index % FILLS.length], overflow: "hidden", whiteSpace: "nowrap", textOverflow: "ellipsis",
    font: "11px sans-serif", lineHeight: `${BAR_PX}px`, paddingLeft: "4px", boxSizing: "border-box",
  });
  segment.textContent = entry.prompt;
  segment.title = `frame ${entry.frame}: ${entry.prompt}`;
  // translateX(-p%) of its own width keeps the first and last marks inside the bar
  const shift = `translateX(-${(100 * entry.frame) / frames}%)`;
  const marker = styled("div", "frameloom-timeline-marker", {
    position: "absolute", top: "0", bottom: "0", left, width: "2px", transform: shift,
    background: "var(--input-text, #ddd)",
  });
  marker.dataset.frame = String(entry.frame);
  marker.title = segment.title;
  const label = styled("div", "frameloom-timeline-label", {
    position: "absolute", top: "0", left, transform: shift, whiteSpace: "nowrap",
  });
  label.textContent = String(entry.frame);
  label.dataset.frame = String(entry.frame);
  view.bar.append(segment, marker);
  view.scale.append(label);
}

function showEntries(view, entries, frames) {
  // before the first key the first prompt holds: drawn faint, from frame 0
  if (entries[0].frame > 0) {
    const held = styled("div", "frameloom-timeline-held", {
      position: "absolute", top: "0", bottom: "0", left: "0", width: percent(entries[0].frame, frames),
      background: FILLS[0], opacity: "0.35",
    });
    view.bar.append(held);
  }
  entries.forEach((entry, i) => addKeyframe(view, entry, entries[i + 1]?.frame ?? frames, frames, i));
  const end = styled("div", "frameloom-timeline-end", { position: "absolute", top: "0", right: "0", opacity: "0.6" });
  end.textContent = String(frames);
  view.scale.append(end);
  const count = entries.length === 1 ? "1 prompt" : `${entries.length} prompts`;
  view.status.textContent = `${count} over ${frames} frames`;
  view.status.title = "";
}

/** The error's line cut around its column, as [before, at, after]; `at` is "" at the end of the line. */
function snippet(text, error) {
  const line = Array.from(text.split("\n")[error.line - 1] ?? "");
  const at = error.column - 1;
  const from = Math.max(0, at - SNIPPET_CONTEXT);
  const to = Math.min(line.length, at + 1 + SNIPPET_CONTEXT);
  return [(from > 0 ? "…" : "") + line.slice(from, at).join(""), line[at] ?? "",
          line.slice(at + 1, to).join("") + (to < line.length ? "…" : "")];
}

function showError(view, error, text, formatted) {
  view.bar.style.outline = `1px solid ${ERROR_COLOR}`;
  const marker = styled("div", "frameloom-timeline-error-marker", {
    position: "absolute", top: "0", bottom: "0", left: "0", right: "0", color: ERROR_COLOR,
    font: "11px sans-serif", lineHeight: `${BAR_PX}px`, paddingLeft: "4px",
  });
  marker.textContent = `✖ line ${error.line}:${error.column}`;
  view.bar.append(marker);
  view.status.textContent = formatted;
  view.status.title = formatted;
  view.status.style.color = ERROR_COLOR;
  const [before, at, after] = snippet(text, error);
  const mark = styled("span", "frameloom-timeline-error-at", {
    background: ERROR_COLOR, color: "#fff", borderRadius: "2px", padding: at.trim() ? "0" : "0 3px",
  });
  mark.textContent = at;
  view.source.replaceChildren(document.createTextNode(`${error.line}│ ${before}`), mark,
                              document.createTextNode(after));
  view.source.style.display = "block";
}

/**
 * A detached timeline element. `onErrorClick(error)` runs when the user clicks the error (to select it in the text).
 * Returns {root, render(result, frames, text, formatted)}: result is parseSchedule's, frames the bar's length, text the
 * parsed text and formatted the error's one line ("line L, column C: ...").
 */
export function createTimelineView(onErrorClick) {
  const root = styled("div", "frameloom-schedule-timeline", {
    display: "flex", flexDirection: "column", gap: "3px", width: "100%", height: `${TIMELINE_HEIGHT_PX}px`,
    boxSizing: "border-box", padding: "2px 0", font: "11px sans-serif", color: "var(--input-text, #ddd)",
    pointerEvents: "none", // drags and wheel zoom fall through to the canvas; only the error row takes clicks
  });
  const bar = styled("div", "frameloom-timeline-bar", {
    position: "relative", flex: `0 0 ${BAR_PX}px`, overflow: "hidden", borderRadius: "3px",
    background: "var(--comfy-input-bg, #222)",
  });
  const scale = styled("div", "frameloom-timeline-scale", {
    position: "relative", flex: `0 0 ${SCALE_PX}px`, lineHeight: `${SCALE_PX}px`, opacity: "0.8",
  });
  const status = styled("div", "frameloom-timeline-status", {
    flex: `0 0 ${ROW_PX}px`, lineHeight: `${ROW_PX}px`, overflow: "hidden", whiteSpace: "nowrap",
    textOverflow: "ellipsis",
  });
  const source = styled("div", "frameloom-timeline-source", {
    flex: `0 0 ${ROW_PX}px`, lineHeight: `${ROW_PX}px`, overflow: "hidden", whiteSpace: "pre",
    font: "11px monospace", cursor: "pointer", pointerEvents: "auto",
  });
  source.title = "click to select the error in the text";
  root.append(bar, scale, status, source);
  const view = { root, bar, scale, status, source, error: null };
  source.addEventListener("click", () => { if (view.error) onErrorClick?.(view.error); });

  view.render = (result, frames, text, formatted) => {
    bar.replaceChildren();
    scale.replaceChildren();
    source.replaceChildren();
    bar.style.outline = "";
    status.style.color = "";
    source.style.display = "none";
    view.error = result.error;
    root.dataset.state = result.error ? "error" : "ok";
    if (result.error) showError(view, result.error, text, formatted);
    else showEntries(view, result.entries, frames);
  };
  return view;
}
