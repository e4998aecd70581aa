// Parallel coordinates on a canvas: one vertical axis per parameter (numeric, or the sorted
// distinct values of a categorical one) and a last axis for the primary metric; one line per
// trial, coloured from worst to best. Hovering a line names its trial.

export interface PCTrial {
  id: string;
  label: string;
  params: Record<string, string>;
  value: number | null;
  stopped: boolean;
}

interface Axis {
  name: string;
  numeric: boolean;
  min: number;
  max: number;
  cats: string[];
  pos: (v: string | number | null) => number | null; // 0 (bottom) .. 1 (top)
}

function makeAxis(name: string, values: (string | number | null)[]): Axis {
  const present = values.filter((v): v is string | number => v !== null && v !== undefined && v !== "");
  const nums = present.map((v) => (typeof v === "number" ? v : Number(v)));
  const numeric = present.length > 0 && nums.every((n) => Number.isFinite(n));
  if (numeric) {
    const min = Math.min(...nums);
    const max = Math.max(...nums);
    return {
      name, numeric, min, max, cats: [],
      pos: (v) => {
        if (v === null || v === "") return null;
        const n = typeof v === "number" ? v : Number(v);
        return max === min ? 0.5 : (n - min) / (max - min);
      },
    };
  }
  const cats = [...new Set(present.map(String))].sort();
  return {
    name, numeric, min: 0, max: 0, cats,
    pos: (v) => {
      if (v === null || v === "") return null;
      const i = cats.indexOf(String(v));
      return cats.length === 1 ? 0.5 : i / (cats.length - 1);
    },
  };
}

function css(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

function fmt(n: number): string {
  return Math.abs(n) >= 1e4 || (Math.abs(n) < 1e-3 && n !== 0) ? n.toExponential(2) : String(Number(n.toPrecision(4)));
}

export function parallelCoords(el: HTMLElement, paramNames: string[], metric: string, goal: string, trials: PCTrial[]): () => void {
  const canvas = document.createElement("canvas");
  const tip = document.createElement("div");
  tip.className = "pc-tip";
  tip.hidden = true;
  el.append(canvas, tip);
  el.dataset.axes = String(paramNames.length + 1);
  el.dataset.lines = String(trials.length);
  const axes = [...paramNames.map((p) => makeAxis(p, trials.map((t) => t.params[p] ?? null))), makeAxis(metric, trials.map((t) => t.value))];
  const vals = trials.map((t) => t.value).filter((v): v is number => v !== null);
  const vmin = Math.min(...vals);
  const vmax = Math.max(...vals);
  // 0 = worst, 1 = best.
  const quality = (v: number | null) => (v === null || vals.length === 0 ? null : vmax === vmin ? 1 : goal === "minimize" ? (vmax - v) / (vmax - vmin) : (v - vmin) / (vmax - vmin));
  const pad = { l: 40, r: 60, t: 28, b: 30 };
  let lines: { t: PCTrial; pts: [number, number][] }[] = [];
  let hover = -1;

  const draw = () => {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(300, el.clientWidth);
    const hgt = 300;
    canvas.width = w * dpr;
    canvas.height = hgt * dpr;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${hgt}px`;
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.scale(dpr, dpr);
    const fg = css("--fg", "#222");
    const muted = css("--muted", "#888");
    const n = axes.length;
    const x = (i: number) => pad.l + (n === 1 ? 0 : (i * (w - pad.l - pad.r)) / (n - 1));
    const y = (p: number) => pad.t + (1 - p) * (hgt - pad.t - pad.b);
    lines = trials.map((t) => ({
      t,
      pts: axes
        .map((a, i) => {
          const p = a.pos(i === n - 1 ? t.value : t.params[a.name] ?? null);
          return p === null ? null : ([x(i), y(p)] as [number, number]);
        })
        .filter((p): p is [number, number] => p !== null),
    }));
    // Worst first, so the best lines are drawn on top.
    const order = lines.map((_, i) => i).sort((a, b) => (quality(lines[a].t.value) ?? -1) - (quality(lines[b].t.value) ?? -1));
    for (const i of order) {
      const { t, pts } = lines[i];
      const q = quality(t.value);
      ctx.beginPath();
      pts.forEach(([px, py], k) => (k ? ctx.lineTo(px, py) : ctx.moveTo(px, py)));
      const hue = q === null ? 0 : 10 + q * 200; // red (worst) .. blue (best)
      ctx.strokeStyle = i === hover ? fg : q === null ? muted : `hsla(${hue}, 70%, 50%, ${t.stopped ? 0.35 : 0.85})`;
      ctx.lineWidth = i === hover ? 3 : 1.5;
      ctx.setLineDash(t.stopped ? [4, 3] : []);
      ctx.stroke();
    }
    ctx.setLineDash([]);
    ctx.font = "11px system-ui, sans-serif";
    axes.forEach((a, i) => {
      const ax = x(i);
      ctx.strokeStyle = muted;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(ax, y(0));
      ctx.lineTo(ax, y(1));
      ctx.stroke();
      ctx.fillStyle = fg;
      ctx.textAlign = i === 0 ? "left" : i === n - 1 ? "right" : "center";
      ctx.fillText(a.name, i === 0 ? ax - 10 : i === n - 1 ? ax + 10 : ax, pad.t - 12);
      ctx.fillStyle = muted;
      ctx.textAlign = "left";
      const ticks: [number, string][] = a.numeric
        ? a.min === a.max
          ? [[0.5, fmt(a.min)]]
          : [0, 0.5, 1].map((p) => [p, fmt(a.min + p * (a.max - a.min))] as [number, string])
        : a.cats.map((c) => [a.pos(c) ?? 0, c] as [number, string]);
      for (const [p, label] of ticks) ctx.fillText(label.length > 12 ? label.slice(0, 11) + "…" : label, ax + 4, y(p) + 4);
    });
  };

  const onMove = (e: MouseEvent) => {
    const r = canvas.getBoundingClientRect();
    const mx = e.clientX - r.left;
    const my = e.clientY - r.top;
    let best = -1;
    let bestD = 6;
    lines.forEach(({ pts }, i) => {
      for (let k = 1; k < pts.length; k++) {
        const d = segDist(mx, my, pts[k - 1], pts[k]);
        if (d < bestD) {
          bestD = d;
          best = i;
        }
      }
    });
    if (best !== hover) {
      hover = best;
      draw();
    }
    if (best >= 0) {
      const t = lines[best].t;
      tip.textContent = `${t.label}: ${metric} ${t.value === null ? "—" : fmt(t.value)}${t.stopped ? " (stopped)" : ""}`;
      tip.hidden = false;
      tip.style.left = `${mx + 12}px`;
      tip.style.top = `${my + 12}px`;
    } else tip.hidden = true;
  };
  const onClick = () => {
    if (hover >= 0) location.hash = `#/runs/${encodeURIComponent(lines[hover].t.id)}`;
  };
  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("click", onClick);
  canvas.addEventListener("mouseleave", () => {
    tip.hidden = true;
    if (hover !== -1) {
      hover = -1;
      draw();
    }
  });
  const ro = new ResizeObserver(() => draw());
  ro.observe(el);
  draw();
  el.dataset.drawn = "1";
  return () => ro.disconnect();
}

function segDist(px: number, py: number, a: [number, number], b: [number, number]): number {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const len = dx * dx + dy * dy;
  const t = len === 0 ? 0 : Math.max(0, Math.min(1, ((px - a[0]) * dx + (py - a[1]) * dy) / len));
  return Math.hypot(px - (a[0] + t * dx), py - (a[1] + t * dy));
}
