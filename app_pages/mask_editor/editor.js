// The mask editor (see __init__.py): a binary mask at the image's full resolution, edited in the browser and sent
// to Python only on Save. Pixel rules, without anti-aliasing, so what is drawn is what is saved (and a test can
// redraw it exactly):
// - the image point under the pointer is x = (clientX - canvas left - panX) / zoom, y likewise;
// - brush and eraser: the pixels whose centres lie within size / 2 of the centre of pixel (floor x, floor y),
//   stamped at every pixel of the Bresenham line between successive pointer positions;
// - polygon, lasso and rectangle: corners snap to the nearest pixel corner, floor(x + 0.5); a pixel is inside when
//   its centre is (even-odd rule, crossings computed as in polygonSpans).

const POSITIVE = "#00c853", NEGATIVE = "#ff1744", BOX = "#2979ff";
const MASK_RGBA = [255, 214, 0, 255];  // yellow: apart from the prompt colours and from most objects
const ZOOMS = [1 / 16, 1 / 8, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 32];
const HISTORY_BYTES = 256 * 2 ** 20;  // oldest steps are forgotten beyond this
const HANDLE_PX = 7;  // how near (screen px) a corner must be to grab it, or the first corner to close a polygon
const LASSO_SPACING_PX = 3;  // a lasso keeps a pointer position this far (screen px) from the last one
const TOOL_KEYS = { b: "brush", e: "eraser", p: "polygon", l: "lasso", r: "rectangle",
                    o: "positive", n: "negative", x: "box" };
const PROMPT_TOOLS = new Set(["positive", "negative", "box"]);

// ---- Rasterising (integer pixel rules, see the top) ---------------------------------------------------------------
function discRows(size) {
  // [dy, dx] rows of the brush disc: pixels with 4 (dx² + dy²) <= size² around the centre pixel.
  const reach = Math.ceil(size / 2), rows = [];
  for (let dy = -reach; dy <= reach; dy++) {
    let dx = -1;
    while (4 * ((dx + 1) ** 2 + dy * dy) <= size * size) dx++;
    if (dx >= 0) rows.push([dy, dx]);
  }
  return rows;
}

function bresenham(x0, y0, x1, y1, visit) {
  const dx = Math.abs(x1 - x0), sx = x0 < x1 ? 1 : -1, dy = -Math.abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    visit(x0, y0);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) { err += dy; x0 += sx; }
    if (e2 <= dx) { err += dx; y0 += sy; }
  }
}

function polygonSpans(points, width, height, visit) {
  // visit(y, from, to) for the pixels [from, to) of row y whose centres lie inside the polygon.
  let top = Infinity, bottom = -Infinity;
  for (const [, y] of points) { top = Math.min(top, y); bottom = Math.max(bottom, y); }
  const crossings = [];
  for (let y = Math.max(0, Math.floor(top)); y <= Math.min(height - 1, Math.ceil(bottom)); y++) {
    const yc = y + 0.5;
    crossings.length = 0;
    for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
      const [ax, ay] = points[j], [bx, by] = points[i];
      if ((ay <= yc) !== (by <= yc)) crossings.push(ax + (yc - ay) * (bx - ax) / (by - ay));
    }
    crossings.sort((a, b) => a - b);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      const from = Math.max(0, Math.ceil(crossings[k] - 0.5)), to = Math.min(width, Math.ceil(crossings[k + 1] - 0.5));
      if (from < to) visit(y, from, to);
    }
  }
}

// ---- The mask on the wire: packed bits (numpy.packbits order), deflated, base64 -----------------------------------
function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function fromBase64(text) {
  const chars = atob(text), bytes = new Uint8Array(chars.length);
  for (let i = 0; i < chars.length; i++) bytes[i] = chars.charCodeAt(i);
  return bytes;
}

async function through(bytes, transform) {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(transform)).arrayBuffer());
}

async function encodeMask(mask, width, height) {
  const bits = new Uint8Array((mask.length + 7) >> 3);
  for (let i = 0; i < mask.length; i++) if (mask[i]) bits[i >> 3] |= 128 >> (i & 7);
  if (typeof CompressionStream === "undefined") return { width, height, encoding: "bits", data: toBase64(bits) };
  const deflated = await through(bits, new CompressionStream("deflate"));
  return { width, height, encoding: "bits+deflate", data: toBase64(deflated) };
}

async function decodeMask(payload) {
  let bits = fromBase64(payload.data);
  if (payload.encoding === "bits+deflate") bits = await through(bits, new DecompressionStream("deflate"));
  const mask = new Uint8Array(payload.width * payload.height);
  for (let i = 0; i < mask.length; i++) mask[i] = (bits[i >> 3] >> (7 - (i & 7))) & 1;
  return mask;
}

// ---- Undo / redo: each step is a rectangle of the mask, swapped in and out ----------------------------------------
class History {
  constructor() { this.done = []; this.undone = []; this.bytes = 0; this.floor = 0; this.nextId = 1; }
  get state() { return this.done.length ? this.done[this.done.length - 1].id : this.floor; }

  push(step) {
    step.id = this.nextId++;
    for (const old of this.undone) this.bytes -= old.data.length;
    this.undone = [];
    this.done.push(step);
    this.bytes += step.data.length;
    while (this.bytes > HISTORY_BYTES && this.done.length > 1) {
      const dropped = this.done.shift();
      this.bytes -= dropped.data.length;
      this.floor = dropped.id;
    }
  }

  move(from, to, mask, width) {
    // Swap the step's pixels with the mask's, so the same step undoes and redoes; returns it.
    const step = from.pop();
    if (!step) return null;
    for (let row = 0; row < step.h; row++) {
      const at = (step.y + row) * width + step.x, saved = step.data.subarray(row * step.w, (row + 1) * step.w);
      const current = mask.slice(at, at + step.w);
      mask.set(saved, at);
      saved.set(current);
    }
    to.push(step);
    return step;
  }
}

// ---- The editor -----------------------------------------------------------------------------------------------
class MaskEditor {
  constructor(root) {
    this.root = root;
    this.canvas = root.querySelector(".me-canvas");
    this.context = this.canvas.getContext("2d");
    this.tool = "brush"; this.size = 20; this.disc = discRows(20); this.opacity = 0.5;
    this.subtract = false; this.refine = true;
    this.zoom = 1; this.panX = 0; this.panY = 0; this.fitted = true;
    this.width = 0; this.height = 0; this.mask = null; this.ones = 0;
    this.history = new History(); this.savedState = 0;
    this.pending = null;   // a closed polygon / rectangle, corners still movable: {kind, points, subtract}
    this.drawing = null;   // what the pointer is drawing now (stroke, polygon, lasso, rectangle, box)
    this.drag = null;      // a pan or a corner being moved
    this.prompt = null;    // clicks and box of this prompt session, and the mask they refine
    this.awaiting = null;  // id of the prompt whose answer is awaited
    this.saving = null;    // {token, state} of the save in flight
    this.pointer = null; this.spaceDown = false;
    this.instance = Math.random().toString(36).slice(2, 8); this.counter = 0;
    this.queue = Promise.resolve();
    this.listen();
  }

  // -- data from Python ------------------------------------------------------------------------------------------
  receive(data, trigger) {
    this.trigger = trigger;
    this.queue = this.queue.then(() => this.apply(data)).catch((error) => this.say(String(error), "error"));
  }

  async apply(data) {
    this.data = data;
    this.root.dataset.prompts = data.prompts ? "on" : "off";
    if (!data.prompts && PROMPT_TOOLS.has(this.tool)) this.tool = "brush";
    if (data.image !== this.imageUrl) {
      await this.load(data);
    } else {
      const saved = this.saving && data.saved === this.saving.token;
      if (saved) {
        this.savedState = this.saving.state;
        this.saving = null;
        this.say("Saved");
      } else if (data.revision !== this.revision) {
        await this.reset(data);
        this.say("Showing the saved mask (it changed: Undo, or a colleague's edit)");
      }
      this.revision = data.revision;
    }
    if (this.saving && data.failed && data.failed.token === this.saving.token) {
      this.saving = null;
      this.say(data.failed.message, "error");
    }
    const answer = data.proposal;
    if (answer && this.awaiting && answer.id === this.awaiting) {
      this.awaiting = null;
      if (answer.error) this.say(answer.error, "error");
      else await this.takeAnswer(answer);
    }
    this.update();
  }

  async load(data) {
    this.root.dataset.state = "loading";
    const image = new Image();
    image.src = data.image;
    await image.decode();
    this.image = image;
    this.imageUrl = data.image;
    this.width = data.width; this.height = data.height;
    this.overlay = document.createElement("canvas");
    this.overlay.width = this.width; this.overlay.height = this.height;
    this.overlayContext = this.overlay.getContext("2d");
    this.overlayData = this.overlayContext.createImageData(this.width, this.height);
    this.overlayPixels = new Uint32Array(this.overlayData.data.buffer);
    this.colour = new Uint32Array(new Uint8Array(MASK_RGBA).buffer)[0];
    this.before = new Uint8Array(this.width * this.height);
    await this.reset(data);
    this.revision = data.revision;
    this.resize();
    this.fit();
    this.root.dataset.state = "ready";
  }

  async reset(data) {
    // Start from the saved mask, with a fresh history (the one on the server is the app's Undo).
    this.mask = data.mask ? await decodeMask(data.mask) : new Uint8Array(this.width * this.height);
    this.history = new History();
    this.savedState = this.history.state;
    this.pending = this.drawing = this.prompt = this.awaiting = null;
    this.recount();
    this.refreshOverlay(0, 0, this.width, this.height);
  }

  // -- edits: begin, change pixels, end (one undo step) ---------------------------------------------------------
  begin() { this.before.set(this.mask); this.touched = null; }  // touched: the box [x0, y0, x1, y1] changed

  touch(x0, y0, x1, y1) {
    x0 = Math.max(0, x0); y0 = Math.max(0, y0); x1 = Math.min(this.width, x1); y1 = Math.min(this.height, y1);
    if (x0 >= x1 || y0 >= y1) return;
    const d = this.touched;
    this.touched = d ? [Math.min(d[0], x0), Math.min(d[1], y0), Math.max(d[2], x1), Math.max(d[3], y1)]
      : [x0, y0, x1, y1];
  }

  setSpan(y, from, to, value) {
    const row = y * this.width, mask = this.mask;
    for (let i = row + from; i < row + to; i++) {
      if (mask[i] !== value) { mask[i] = value; this.ones += value ? 1 : -1; }
    }
    this.touch(from, y, to, y + 1);
  }

  end() {
    const d = this.touched;
    this.touched = null;
    if (!d) return;
    const [x, y, w, h] = [d[0], d[1], d[2] - d[0], d[3] - d[1]];
    const data = new Uint8Array(w * h);
    let changed = false;
    for (let row = 0; row < h; row++) {
      const at = (y + row) * this.width + x;
      data.set(this.before.subarray(at, at + w), row * w);
      for (let i = 0; i < w && !changed; i++) changed = this.before[at + i] !== this.mask[at + i];
    }
    if (changed) this.history.push({ x, y, w, h, data });
    this.refreshOverlay(x, y, w, h);
    this.update();
  }

  whole(change) {
    // An edit of every pixel (fill holes, invert, clear, whole image, an answer to a prompt): one step.
    this.finishShape();
    this.begin();
    change(this.mask);
    this.recount();
    this.touch(0, 0, this.width, this.height);
    this.end();
  }

  recount() {
    let ones = 0;
    for (let i = 0; i < this.mask.length; i++) ones += this.mask[i];
    this.ones = ones;
  }

  stamp(cx, cy, value) {
    for (const [dy, dx] of this.disc) {
      const y = cy + dy;
      if (y < 0 || y >= this.height) continue;
      const from = Math.max(0, cx - dx), to = Math.min(this.width, cx + dx + 1);
      if (from < to) this.setSpan(y, from, to, value);
    }
  }

  fillHoles(mask) {
    // Background the image border cannot reach through background (4-connected) becomes mask:
    // scipy.ndimage.binary_fill_holes with its default structure.
    const w = this.width, h = this.height, reached = new Uint8Array(mask.length), stack = [];
    const visit = (i) => { if (!mask[i] && !reached[i]) { reached[i] = 1; stack.push(i); } };
    for (let x = 0; x < w; x++) { visit(x); visit((h - 1) * w + x); }
    for (let y = 0; y < h; y++) { visit(y * w); visit(y * w + w - 1); }
    while (stack.length) {
      const i = stack.pop(), x = i % w;
      if (x > 0) visit(i - 1);
      if (x < w - 1) visit(i + 1);
      if (i >= w) visit(i - w);
      if (i < mask.length - w) visit(i + w);
    }
    for (let i = 0; i < mask.length; i++) if (!reached[i]) mask[i] = 1;
  }

  undo() {
    if (this.drawing || this.pending) { this.drawing = this.pending = null; this.update(); return; }
    this.swap(this.history.move(this.history.done, this.history.undone, this.mask, this.width));
  }

  redo() { this.swap(this.history.move(this.history.undone, this.history.done, this.mask, this.width)); }

  swap(step) {
    if (!step) return;
    this.recount();
    this.refreshOverlay(step.x, step.y, step.w, step.h);
    this.update();
  }

  // -- shapes ----------------------------------------------------------------------------------------------------
  finishShape() {
    // A pending polygon / rectangle goes into the mask (before any other edit, a tool change or a save).
    if (this.drawing && this.drawing.kind === "polygon" && this.drawing.points.length >= 3) this.closePolygon();
    this.drawing = null;
    const shape = this.pending;
    if (!shape) return;
    this.pending = null;
    this.begin();
    const value = shape.subtract ? 0 : 1;
    polygonSpans(shape.points, this.width, this.height, (y, from, to) => this.setSpan(y, from, to, value));
    this.end();
  }

  closePolygon() {
    this.pending = { kind: "polygon", points: this.drawing.points, subtract: this.subtract };
    this.drawing = null;
    this.update();
  }

  shapeArea() {
    // Pixels the mask will have once the pending shape is in.
    let ones = this.ones;
    const shape = this.pending;
    if (shape) {
      polygonSpans(shape.points, this.width, this.height, (y, from, to) => {
        for (let i = y * this.width + from; i < y * this.width + to; i++) {
          if (shape.subtract) ones -= this.mask[i]; else ones += 1 - this.mask[i];
        }
      });
    }
    return ones;
  }

  // -- prompts ---------------------------------------------------------------------------------------------------
  endPrompts() { this.prompt = null; this.awaiting = null; }

  async ask(change) {
    this.finishShape();
    if (!this.prompt) {
      this.prompt = { positive: [], negative: [], box: null, base: null,
                      refines: this.refine && this.ones > 0 ? this.mask.slice() : null };
    }
    change(this.prompt);
    const id = `${this.instance}-p${++this.counter}`;
    this.awaiting = id;
    this.say("Computing the mask…");
    this.update();
    if (this.prompt.refines && !this.prompt.base) {
      this.prompt.base = await encodeMask(this.prompt.refines, this.width, this.height);
    }
    const { positive, negative, box, base } = this.prompt;
    this.trigger("prompt", { id, positive, negative, box, base });
  }

  async takeAnswer(answer) {
    const mask = await decodeMask(answer.mask);
    if (mask.length !== this.mask.length) { this.say("The answer does not fit this image", "error"); return; }
    this.whole((current) => current.set(mask));
    this.say("");
  }

  // -- saving ----------------------------------------------------------------------------------------------------
  async save() {
    this.finishShape();
    if (!this.changed() || this.saving) return;
    const token = `${this.instance}-s${++this.counter}`;
    this.saving = { token, state: this.history.state };
    this.say("Saving…");
    this.update();
    const mask = await encodeMask(this.mask, this.width, this.height);
    this.trigger("save", { token, mask, revision: this.revision });
  }

  changed() { return this.history.state !== this.savedState || this.pending !== null; }

  // -- view ------------------------------------------------------------------------------------------------------
  toImage(event) {
    const rect = this.canvas.getBoundingClientRect();
    return [(event.clientX - rect.left - this.panX) / this.zoom, (event.clientY - rect.top - this.panY) / this.zoom];
  }

  toScreen(x, y) { return [x * this.zoom + this.panX, y * this.zoom + this.panY]; }

  resize() {
    const view = this.canvas.parentElement, ratio = window.devicePixelRatio || 1;
    const width = view.clientWidth || 640;
    const tallest = Math.max(320, Math.min(720, window.innerHeight - 200));  // the whole view fits the window
    const height = Math.round(Math.min(tallest, Math.max(320, width * (this.height || 1) / (this.width || 1))));
    this.canvas.style.height = `${height}px`;
    this.canvas.width = Math.round(width * ratio);
    this.canvas.height = Math.round(height * ratio);
    this.viewWidth = width; this.viewHeight = height;
    if (this.fitted) this.fit(); else this.render();
  }

  fit() {
    if (!this.width) return;
    this.zoom = Math.min(this.viewWidth / this.width, this.viewHeight / this.height);
    this.panX = Math.round((this.viewWidth - this.width * this.zoom) / 2);
    this.panY = Math.round((this.viewHeight - this.height * this.zoom) / 2);
    this.fitted = true;
    this.update();
  }

  zoomTo(zoom, atX = this.viewWidth / 2, atY = this.viewHeight / 2) {
    zoom = Math.min(32, Math.max(Math.min(1, this.viewWidth / this.width / 2), zoom));
    this.panX = Math.round(atX - (atX - this.panX) * zoom / this.zoom);
    this.panY = Math.round(atY - (atY - this.panY) * zoom / this.zoom);
    this.zoom = zoom;
    this.fitted = false;
    this.update();
  }

  zoomStep(direction) {
    const next = direction > 0 ? ZOOMS.find((z) => z > this.zoom * 1.001)
      : [...ZOOMS].reverse().find((z) => z < this.zoom / 1.001);
    if (next) this.zoomTo(next);
  }

  refreshOverlay(x, y, w, h) {
    const { mask, overlayPixels: pixels, colour } = this;
    for (let row = y; row < y + h; row++) {
      for (let i = row * this.width + x; i < row * this.width + x + w; i++) pixels[i] = mask[i] ? colour : 0;
    }
    this.overlayContext.putImageData(this.overlayData, 0, 0, x, y, w, h);
  }

  render() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = null; this.draw(); });
  }

  draw() {
    const c = this.context, ratio = this.canvas.width / (this.viewWidth || 1);
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.image) return;
    c.setTransform(ratio * this.zoom, 0, 0, ratio * this.zoom, ratio * this.panX, ratio * this.panY);
    c.imageSmoothingEnabled = this.zoom < 1;  // zoomed in, every image pixel is a crisp square
    c.drawImage(this.image, 0, 0);
    c.globalAlpha = this.opacity;
    c.drawImage(this.overlay, 0, 0);
    c.globalAlpha = 1;
    c.setTransform(ratio, 0, 0, ratio, 0, 0);
    if (this.pending) this.drawShape(this.pending.points, true, this.pending.subtract);
    const d = this.drawing;
    if (d && (d.kind === "polygon" || d.kind === "lasso")) this.drawShape(d.points, false, this.subtract);
    if (d && d.kind === "rect") this.drawShape(corners(d.from, d.to), true, this.subtract);
    if (this.prompt) this.drawPrompt(this.prompt);
    if (d && d.kind === "box") this.drawBox(d.from, d.to);
    if (this.pointer && (this.tool === "brush" || this.tool === "eraser") && !this.drag) {
      const [x, y] = this.toScreen(Math.floor(this.pointer[0]) + 0.5, Math.floor(this.pointer[1]) + 0.5);
      c.beginPath();
      c.arc(x, y, Math.max(1, this.size / 2 * this.zoom), 0, 2 * Math.PI);
      c.lineWidth = 3; c.strokeStyle = "rgba(0, 0, 0, 0.7)"; c.stroke();
      c.lineWidth = 1.5; c.strokeStyle = this.tool === "brush" ? "#fff" : "#ff9100"; c.stroke();
    }
  }

  drawShape(points, closed, subtract) {
    const c = this.context;
    c.beginPath();
    points.forEach(([x, y], i) => {
      const [sx, sy] = this.toScreen(x, y);
      if (i) c.lineTo(sx, sy); else c.moveTo(sx, sy);
    });
    if (!closed && this.pointer && this.drawing && this.drawing.kind === "polygon") {
      c.lineTo(...this.toScreen(...this.snap(this.pointer)));  // the edge the next click makes
    }
    if (closed) { c.closePath(); c.fillStyle = subtract ? "rgba(0, 0, 0, 0.45)" : "rgba(255, 214, 0, 0.35)"; c.fill(); }
    c.setLineDash([6, 4]); c.lineWidth = 2; c.strokeStyle = "#000"; c.stroke();
    c.setLineDash([]); c.lineWidth = 1; c.strokeStyle = "#fff"; c.stroke();
    if (closed || (this.drawing && this.drawing.kind === "polygon")) {
      points.forEach(([x, y], i) => {
        const [sx, sy] = this.toScreen(x, y), r = i === 0 && !closed ? 5 : 4;
        c.fillStyle = "#fff"; c.fillRect(sx - r, sy - r, 2 * r, 2 * r);
        c.strokeStyle = "#000"; c.strokeRect(sx - r, sy - r, 2 * r, 2 * r);
      });
    }
  }

  drawPrompt(prompt) {
    if (prompt.box) this.drawBox(prompt.box.slice(0, 2), prompt.box.slice(2));
    const c = this.context;
    for (const [points, colour] of [[prompt.positive, POSITIVE], [prompt.negative, NEGATIVE]]) {
      for (const [x, y] of points) {
        const [sx, sy] = this.toScreen(x, y);
        c.beginPath(); c.arc(sx, sy, 6, 0, 2 * Math.PI);
        c.fillStyle = colour; c.fill(); c.lineWidth = 2; c.strokeStyle = "#fff"; c.stroke();
      }
    }
  }

  drawBox(from, to) {
    const c = this.context, [x0, y0] = this.toScreen(...from), [x1, y1] = this.toScreen(...to);
    c.fillStyle = "rgba(41, 121, 255, 0.12)"; c.fillRect(x0, y0, x1 - x0, y1 - y0);
    c.lineWidth = 2; c.strokeStyle = BOX; c.strokeRect(x0, y0, x1 - x0, y1 - y0);
  }

  // -- toolbar, status and test hooks -------------------------------------------------------------------------------
  update() {
    const root = this.root, total = this.width * this.height || 1, area = this.shapeArea() / total;
    const range = this.data && this.data.range, label = (this.data && this.data.label) || "Mask area";
    const percent = (v) => `${(100 * v).toFixed(2)} %`;
    const areaText = root.querySelector(".me-area");
    areaText.textContent = `${label}: ${percent(area)} of the image`
      + (range ? ` · allowed ${+(100 * range[0]).toFixed(2)}–${+(100 * range[1]).toFixed(2)} %` : "")
      + (this.changed() ? " · not saved" : "");
    areaText.dataset.fit = !range ? "" : area >= range[0] && area <= range[1] ? "inside" : "outside";
    for (const button of root.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === this.tool));
    }
    root.querySelector("[data-action=undo]").disabled = !this.history.done.length && !this.pending && !this.drawing;
    root.querySelector("[data-action=redo]").disabled = !this.history.undone.length;
    root.querySelector("[data-action=save]").disabled = !this.changed() || !!this.saving;
    root.querySelector(".me-zoom").textContent = `${Math.round(100 * this.zoom)} %`;
    root.querySelector("[data-option=size]").value = this.size;
    root.querySelector("[data-option=subtract]").checked = this.subtract;
    root.querySelector("[data-option=refine]").checked = this.refine;
    root.querySelector("[data-option=opacity]").value = this.opacity;
    Object.assign(root.dataset, {
      state: this.mask ? (this.saving ? "saving" : this.awaiting ? "asking" : "ready") : "loading",
      tool: this.tool, size: this.size, zoom: this.zoom, panX: this.panX, panY: this.panY,
      width: this.width, height: this.height, ones: this.ones, undo: this.history.done.length,
      redo: this.history.undone.length, dirty: String(this.changed()), revision: this.revision ?? "",
      pending: this.pending ? this.pending.kind : "", drawing: this.drawing ? this.drawing.kind : "",
    });
    this.canvas.dataset.cursor = this.spaceDown || (this.drag && this.drag.kind === "pan") ? "grab"
      : this.tool === "brush" || this.tool === "eraser" ? "none" : "";
    this.render();
  }

  say(text, kind = "") {
    const message = this.root.querySelector(".me-message");
    message.textContent = text;
    message.dataset.kind = kind;
  }

  setTool(tool) {
    if (PROMPT_TOOLS.has(tool) && !(this.data && this.data.prompts)) return;
    if (tool !== this.tool) this.finishShape();
    this.tool = tool;
    this.update();
  }

  setSize(size) {
    this.size = Math.max(1, Math.min(500, Math.round(size) || 1));
    this.disc = discRows(this.size);
    this.update();
  }

  action(name) {
    const actions = {
      undo: () => this.undo(), redo: () => this.redo(), save: () => this.save(),
      fill: () => { this.endPrompts(); this.whole((mask) => this.fillHoles(mask)); },
      invert: () => {
        this.endPrompts();
        this.whole((mask) => { for (let i = 0; i < mask.length; i++) mask[i] ^= 1; });
      },
      clear: () => { this.endPrompts(); this.whole((mask) => mask.fill(0)); },
      whole: () => { this.endPrompts(); this.whole((mask) => mask.fill(1)); },
      "zoom-in": () => this.zoomStep(1), "zoom-out": () => this.zoomStep(-1), fit: () => this.fit(),
      actual: () => this.zoomTo(1),
    };
    if (this.mask && actions[name]) actions[name]();
  }

  // -- input -----------------------------------------------------------------------------------------------------
  listen() {
    const root = this.root, canvas = this.canvas;
    root.addEventListener("click", (e) => {
      const button = e.target.closest("button");
      if (!button) return;
      if (button.dataset.tool) this.setTool(button.dataset.tool);
      if (button.dataset.action) this.action(button.dataset.action);
    });
    root.addEventListener("input", (e) => {
      const option = e.target.dataset.option;
      if (option === "size") this.setSize(Number(e.target.value));
      if (option === "opacity") { this.opacity = Number(e.target.value); this.render(); }
      if (option === "subtract") {
        this.subtract = e.target.checked;
        if (this.pending) this.pending.subtract = this.subtract;
        this.update();
      }
      if (option === "refine") { this.refine = e.target.checked; this.endPrompts(); this.update(); }
    });
    root.addEventListener("keydown", (e) => this.onKey(e));
    root.addEventListener("keyup", (e) => { if (e.key === " ") { this.spaceDown = false; this.update(); } });
    canvas.addEventListener("pointerdown", (e) => this.onDown(e));
    canvas.addEventListener("pointermove", (e) => this.onMove(e));
    canvas.addEventListener("pointerup", (e) => this.onUp(e));
    canvas.addEventListener("pointercancel", (e) => this.onUp(e));
    canvas.addEventListener("pointerleave", () => { this.pointer = null; this.render(); });
    canvas.addEventListener("dblclick", () => {
      if (this.drawing && this.drawing.kind === "polygon" && this.drawing.points.length >= 3) this.closePolygon();
    });
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      const rect = canvas.getBoundingClientRect();
      this.zoomTo(this.zoom * Math.exp(-e.deltaY * 0.0015), e.clientX - rect.left, e.clientY - rect.top);
    }, { passive: false });
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(canvas.parentElement);
  }

  destroy() { this.observer.disconnect(); }

  onKey(e) {
    const tag = e.target.tagName;
    if (tag === "INPUT" && e.key !== "Escape" && e.key !== "Enter") return;  // typing a size
    if (tag === "BUTTON" && (e.key === "Enter" || e.key === " ")) return;    // the button's own click
    const key = e.key.toLowerCase(), ctrl = e.ctrlKey || e.metaKey;
    let handled = true;
    if (ctrl && key === "z") { if (e.shiftKey) this.redo(); else this.undo(); }
    else if (ctrl && key === "y") this.redo();
    else if (ctrl || e.altKey) handled = false;
    else if (key === "enter") this.save();
    else if (key === "escape") this.cancel();
    else if (key === " ") { this.spaceDown = true; this.update(); }
    else if (TOOL_KEYS[key]) this.setTool(TOOL_KEYS[key]);
    else if (key === "[") this.setSize(this.size > 10 ? this.size / 1.2 : this.size - 1);
    else if (key === "]") this.setSize(this.size >= 10 ? this.size * 1.2 : this.size + 1);
    else if (key === "+" || key === "=") this.zoomStep(1);
    else if (key === "-") this.zoomStep(-1);
    else if (key === "0") this.fit();
    else if (key === "1") this.zoomTo(1);
    else handled = false;
    if (handled) { e.preventDefault(); e.stopPropagation(); }  // Streamlit's own keys (R reruns) stay out of it
  }

  cancel() {
    if (this.drawing) this.drawing = null;
    else if (this.pending) this.pending = null;
    else if (this.prompt) { this.endPrompts(); this.say(""); }
    this.update();
  }

  snap([x, y]) { return [Math.floor(x + 0.5), Math.floor(y + 0.5)]; }

  inside([x, y]) { return x >= 0 && y >= 0 && x <= this.width && y <= this.height; }

  near(e, [x, y]) {
    // Whether the pointer is within HANDLE_PX screen pixels of image point (x, y).
    const rect = this.canvas.getBoundingClientRect(), [sx, sy] = this.toScreen(x, y);
    return Math.abs(sx - (e.clientX - rect.left)) <= HANDLE_PX && Math.abs(sy - (e.clientY - rect.top)) <= HANDLE_PX;
  }

  handleAt(e) {
    // Index of the pending shape's corner under the pointer, or -1.
    return this.pending ? this.pending.points.findIndex((corner) => this.near(e, corner)) : -1;
  }

  onDown(e) {
    this.root.focus({ preventScroll: true });
    if (!this.mask) return;
    const point = this.toImage(e);
    this.pointer = point;
    if (e.button === 1 || (e.button === 0 && this.spaceDown)) {
      this.drag = { kind: "pan", x: e.clientX - this.panX, y: e.clientY - this.panY };
      this.canvas.setPointerCapture(e.pointerId);
      e.preventDefault();
      this.update();
      return;
    }
    if (e.button === 2 && this.tool === "positive" && this.inside(point)) {
      this.ask((p) => p.negative.push(point));  // a right click is a background point
      return;
    }
    if (e.button !== 0) return;
    this.canvas.setPointerCapture(e.pointerId);
    const corner = this.handleAt(e);
    if (corner >= 0) { this.drag = { kind: "corner", index: corner }; return; }
    const tool = this.tool, d = this.drawing;
    if (tool === "positive" || tool === "negative") {
      if (this.inside(point)) this.ask((p) => p[tool].push(point));
    } else if (tool === "box") {
      this.drawing = { kind: "box", from: point, to: point };
    } else if (tool === "polygon" && d && d.kind === "polygon") {
      const last = d.points[d.points.length - 1], vertex = this.snap(point);
      if (d.points.length >= 3 && this.near(e, d.points[0])) this.closePolygon();
      else if (vertex[0] !== last[0] || vertex[1] !== last[1]) d.points.push(vertex);
    } else {
      this.finishShape();
      this.endPrompts();
      if (tool === "brush" || tool === "eraser") {
        this.begin();
        const at = [Math.floor(point[0]), Math.floor(point[1])];
        this.drawing = { kind: "stroke", value: tool === "brush" ? 1 : 0, at };
        this.stamp(...this.drawing.at, this.drawing.value);
        this.refreshDirty();
      } else if (tool === "polygon") {
        this.drawing = { kind: "polygon", points: [this.snap(point)] };
      } else if (tool === "lasso") {
        this.drawing = { kind: "lasso", points: [this.snap(point)], screen: [e.clientX, e.clientY] };
      } else if (tool === "rectangle") {
        this.drawing = { kind: "rect", from: this.snap(point), to: this.snap(point) };
      }
    }
    this.update();
  }

  refreshDirty() {
    const d = this.touched;
    if (d) this.refreshOverlay(d[0], d[1], d[2] - d[0], d[3] - d[1]);
  }

  onMove(e) {
    if (!this.mask) return;
    this.pointer = this.toImage(e);
    const drag = this.drag, d = this.drawing;
    if (drag && drag.kind === "pan") {
      this.panX = Math.round(e.clientX - drag.x); this.panY = Math.round(e.clientY - drag.y);
      this.fitted = false;
    } else if (drag && drag.kind === "corner") {
      this.moveCorner(drag.index, this.snap(this.pointer));
    } else if (d && d.kind === "stroke") {
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const event of events.length ? events : [e]) {
        const [x, y] = this.toImage(event), to = [Math.floor(x), Math.floor(y)];
        bresenham(d.at[0], d.at[1], to[0], to[1], (px, py) => this.stamp(px, py, d.value));
        d.at = to;
      }
      this.refreshDirty();
    } else if (d && d.kind === "lasso") {
      const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      for (const event of events.length ? events : [e]) {
        if (Math.hypot(event.clientX - d.screen[0], event.clientY - d.screen[1]) < LASSO_SPACING_PX) continue;
        d.points.push(this.snap(this.toImage(event)));
        d.screen = [event.clientX, event.clientY];
      }
    } else if (d && d.kind === "rect") {
      d.to = this.snap(this.pointer);
    } else if (d && d.kind === "box") {
      d.to = this.pointer;
    }
    this.update();
  }

  onUp(e) {
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    const d = this.drawing;
    if (this.drag) {
      this.drag = null;
    } else if (d && d.kind === "stroke") {
      this.drawing = null;
      this.end();
    } else if (d && d.kind === "lasso") {
      this.drawing = null;
      if (d.points.length >= 3) this.pending = { kind: "polygon", points: d.points, subtract: this.subtract };
    } else if (d && d.kind === "rect") {
      this.drawing = null;
      if (d.from[0] !== d.to[0] && d.from[1] !== d.to[1]) {
        this.pending = { kind: "rect", points: corners(d.from, d.to), subtract: this.subtract };
      }
    } else if (d && d.kind === "box") {
      this.drawing = null;
      const clamp = ([x, y]) => [Math.min(this.width, Math.max(0, x)), Math.min(this.height, Math.max(0, y))];
      const [x0, y0] = clamp(d.from), [x1, y1] = clamp(d.to);
      const box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)];
      if (box[2] - box[0] >= 2 && box[3] - box[1] >= 2) this.ask((p) => { p.box = box; });
    }
    this.update();
  }

  moveCorner(index, [x, y]) {
    const shape = this.pending;
    if (shape.kind === "rect") {  // a rectangle stays a rectangle: the corners sharing an edge follow
      const [ox, oy] = shape.points[index];
      for (const corner of shape.points) {
        if (corner[0] === ox) corner[0] = x;
        if (corner[1] === oy) corner[1] = y;
      }
    } else {
      shape.points[index] = [x, y];
    }
  }
}

function corners([x0, y0], [x1, y1]) { return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]; }

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const root = parentElement.querySelector(".me");
  if (!root.editor) root.editor = new MaskEditor(root);
  root.editor.receive(data, setTriggerValue);
  return () => root.editor.destroy();
}
