// A tiny element builder: the UI is plain DOM (docs/web.md says why no framework). Attributes
// are set with setAttribute and styles only through CSSOM properties, never a `style` attribute:
// the server's Content-Security-Policy forbids inline styles.

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v);
    } else if (k === "class") {
      el.className = String(v);
    } else if (v === true) {
      el.setAttribute(k, "");
    } else {
      el.setAttribute(k, String(v));
    }
  }
  append(el, ...children);
  return el;
}

export function append(el: Node, ...children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

// Cleanup callbacks of the current view (streams, observers, charts), run on navigation.
export class Scope {
  private fns: (() => void)[] = [];
  private closed = false;
  add(fn: () => void): void {
    if (this.closed) fn();
    else this.fns.push(fn);
  }
  get active(): boolean {
    return !this.closed;
  }
  close(): void {
    this.closed = true;
    for (const fn of this.fns.splice(0).reverse()) {
      try {
        fn();
      } catch {
        // A failing cleanup must not keep the others from running.
      }
    }
  }
}
