// Metric charts on uPlot (canvas; fast with many points). The server downsamples a series to
// one bucket per pixel (docs/api.md, "Metrics"), so a chart asks for as many points as it is
// wide; a drag selects a step range, which is fetched again at full resolution for that range;
// a double click (or Escape, or "reset") goes back to the whole series.
//
// What the browser tests read (tests/web): data-testid=chart, data-metric, data-points (points
// plotted now, all series), data-total (points in the series), data-series, data-downsampled,
// and data-drawn=1 once drawn. window.__tyFirstChartMs is set when a page's first chart draws.
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { enc, get, type Series } from "./api";
import { h } from "./dom";
import { fmtNum, num } from "./format";

declare global {
  interface Window {
    __tyFirstChartMs?: number;
  }
}

const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];
export function colour(i: number): string {
  return PALETTE[i % PALETTE.length];
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

export function markFirstChart(): void {
  if (window.__tyFirstChartMs === undefined) window.__tyFirstChartMs = performance.now();
}

// At most a few series requests at once, and one alone until the first answer: the first chart
// on a page with many should not share the server (2 cores, say) with the others.
export class LoadQueue {
  private running = 0;
  private done = 0;
  private waiting: (() => void)[] = [];
  constructor(private readonly limit = 4) {}
  private cap(): number {
    return this.done === 0 ? 1 : this.limit;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.cap()) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.done++;
      for (let free = this.cap() - this.running; free > 0 && this.waiting.length; free--) this.waiting.shift()!();
    }
  }
}

function axes(): uPlot.Axis[] {
  const fg = cssVar("--muted", "#888");
  const grid = cssVar("--grid", "rgba(128,128,128,0.15)");
  const ax = (): uPlot.Axis => ({
    stroke: fg,
    grid: { stroke: grid, width: 1 },
    ticks: { stroke: grid, width: 1 },
    font: "11px system-ui, sans-serif",
  });
  return [ax(), { ...ax(), size: 56, values: (_u, vals) => vals.map((v) => fmtNum(v)) }];
}

export interface ChartSource {
  runId: string;
  label: string;
}

// One metric of one or more runs (several: overlaid, one colour per run).
export class MetricChart {
  readonly el: HTMLDivElement;
  private readonly plotEl: HTMLDivElement;
  private readonly info: HTMLSpanElement;
  private readonly resetBtn: HTMLButtonElement;
  private plot: uPlot | null = null;
  private seriesCount = 0;
  private range: [number, number] | null = null;
  private seq = 0;
  private loading = false;
  private again = false;
  private destroyed = false;
  private resize: ResizeObserver;

  constructor(
    readonly metric: string,
    private readonly sources: ChartSource[],
    private readonly queue: LoadQueue,
    private readonly colours: string[] = [],
  ) {
    this.plotEl = h("div", { class: "chart-plot" });
    this.info = h("span", { class: "chart-info muted" });
    const reset = h("button", { class: "link small", type: "button", title: "Show the whole series (Esc)", hidden: true }, "reset zoom");
    this.resetBtn = reset;
    reset.addEventListener("click", () => this.resetZoom());
    this.el = h(
      "div",
      {
        class: "chart",
        "data-testid": "chart",
        "data-metric": metric,
        "data-drawn": "0",
        "data-points": "0",
        "data-total": "0",
        "data-series": "0",
        "data-downsampled": "0",
        tabindex: "0",
      },
      h("div", { class: "chart-head" }, h("span", { class: "chart-title" }, metric), this.info, reset),
      this.plotEl,
    );
    this.el.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.resetZoom();
    });
    this.plotEl.addEventListener("dblclick", () => this.resetZoom());
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize(this.size());
    });
    this.resize.observe(this.plotEl);
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(200, this.plotEl.clientWidth || 400), height: 220 };
  }

  get zoomed(): boolean {
    return this.range !== null;
  }

  // (Re)loads the series at the chart's resolution; live updates call it again (when a load
  // is running, one more follows it so that the last change is never missed).
  async load(): Promise<void> {
    if (this.destroyed) return;
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.again = false;
        try {
          await this.fetchAndDraw();
        } catch (e) {
          console.error(`chart ${this.metric}:`, e);
        }
      } while (this.again && !this.destroyed);
    } finally {
      this.loading = false;
    }
  }

  // A live change: reloads unless the user is looking at a zoomed range.
  refresh(): void {
    if (!this.zoomed) void this.load();
  }

  resetZoom(): void {
    if (this.range === null) return;
    this.range = null;
    void this.load();
  }

  private zoomTo(min: number, max: number): void {
    if (!(max > min)) return;
    this.range = [Math.floor(min), Math.ceil(max)];
    void this.load();
  }

  destroy(): void {
    this.destroyed = true;
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }

  private async fetchAndDraw(): Promise<void> {
    const seq = ++this.seq;
    const points = Math.max(50, Math.round(this.size().width));
    let q = `?points=${points}`;
    if (this.range) q += `&min_step=${this.range[0]}&max_step=${this.range[1]}`;
    const results = await Promise.all(
      this.sources.map((s) =>
        this.queue
          .run(() => get<Series>(`/runs/${enc(s.runId)}/metrics/${enc(this.metric)}${q}`))
          .catch((e: unknown) => {
            console.warn(`chart ${this.metric} of ${s.runId}:`, e);
            return null;
          }),
      ),
    );
    if (seq !== this.seq || this.destroyed) return;
    this.draw(results);
  }

  private draw(results: (Series | null)[]): void {
    let plotted = 0;
    let total = 0;
    let down = false;
    let nseries = 0;
    const parts: uPlot.AlignedData[] = [];
    const series: uPlot.Series[] = [{ label: "step" }];
    const bands: uPlot.Band[] = [];
    const single = this.sources.length === 1;
    results.forEach((r, i) => {
      if (!r) return;
      nseries++;
      plotted += r.step.length;
      total += r.total;
      down ||= r.downsampled;
      const c = this.colours[i] ?? colour(i);
      if (single && r.min && r.max) {
        // One run, downsampled: the bucket's last value, and its min..max as a band so that
        // spikes stay visible at any zoom.
        parts.push([r.step, r.value.map(num), r.min.map(num), r.max.map(num)]);
        series.push({ label: this.sources[i].label, stroke: c, width: 1.5, spanGaps: true });
        series.push({ label: "min", stroke: c + "55", width: 1, spanGaps: true });
        series.push({ label: "max", stroke: c + "55", width: 1, spanGaps: true });
        bands.push({ series: [3, 2], fill: c + "22" });
      } else {
        parts.push([r.step, r.value.map(num)]);
        series.push({ label: this.sources[i].label, stroke: c, width: 1.5, spanGaps: true });
      }
    });
    const data: uPlot.AlignedData =
      parts.length === 0 ? [[]] : parts.length === 1 ? parts[0] : uPlot.join(parts);
    this.resetBtn.hidden = this.range === null;
    const d = this.el.dataset;
    d.points = String(plotted);
    d.total = String(total);
    d.series = String(nseries);
    d.downsampled = down ? "1" : "0";
    this.info.textContent =
      total === 0 ? "no points" : `${plotted.toLocaleString()} of ${total.toLocaleString()} points${down ? " (downsampled)" : ""}${this.range ? " · zoomed" : ""}`;

    if (this.plot && this.seriesCount === series.length) {
      if (this.range) {
        this.plot.setData(data, false);
        this.plot.setScale("x", { min: this.range[0], max: this.range[1] });
      } else {
        this.plot.setData(data, true);
      }
      return;
    }
    this.plot?.destroy();
    this.seriesCount = series.length;
    const opts: uPlot.Options = {
      ...this.size(),
      series,
      bands,
      axes: axes(),
      scales: { x: { time: false } },
      legend: { show: !single || series.length > 2, live: true },
      cursor: {
        drag: { x: true, y: false, setScale: false },
        focus: { prox: 16 },
      },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width < 3) return;
            const min = u.posToVal(u.select.left, "x");
            const max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            this.zoomTo(min, max);
          },
        ],
        draw: [
          () => {
            if (this.el.dataset.drawn !== "1") this.el.dataset.drawn = "1";
            markFirstChart();
          },
        ],
      },
    };
    this.plot = new uPlot(opts, data, this.plotEl);
    if (this.range) this.plot.setScale("x", { min: this.range[0], max: this.range[1] });
  }
}

// A chart of data the page already holds (a sweep's best-so-far curve). `el` gets the same
// data attributes as a metric chart.
export function staticChart(el: HTMLElement, label: string, xs: number[], ys: (number | null)[], xLabel: string): () => void {
  const plotEl = h("div", { class: "chart-plot" });
  el.classList.add("chart");
  el.appendChild(plotEl);
  el.dataset.points = String(xs.length);
  el.dataset.total = String(xs.length);
  el.dataset.series = "1";
  el.dataset.downsampled = "0";
  el.dataset.drawn = "0";
  const width = () => Math.max(200, plotEl.clientWidth || 400);
  const plot = new uPlot(
    {
      width: width(),
      height: 220,
      series: [{ label: xLabel }, { label, stroke: colour(0), width: 2, points: { show: true, size: 5 } }],
      // Trials are whole numbers: no ticks between them.
      axes: [{ ...axes()[0], incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000] }, axes()[1]],
      scales: { x: { time: false } },
      legend: { show: true },
      hooks: {
        draw: [
          () => {
            el.dataset.drawn = "1";
            markFirstChart();
          },
        ],
      },
    },
    [xs, ys],
    plotEl,
  );
  const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
  ro.observe(plotEl);
  return () => {
    ro.disconnect();
    plot.destroy();
  };
}
