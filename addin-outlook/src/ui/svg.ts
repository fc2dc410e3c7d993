// The engagement charts arrive as SVG strings from our own server. They are still parsed and
// rebuilt through an allow-list (elements and presentation attributes only: no scripts, no event
// handlers, no links, no foreignObject, no external references), then imported as DOM nodes.

const ELEMENTS = new Set([
  'svg',
  'g',
  'path',
  'rect',
  'circle',
  'ellipse',
  'line',
  'polyline',
  'polygon',
  'text',
  'tspan',
  'title',
  'desc',
  'defs',
  'lineargradient',
  'stop',
  'clippath',
]);
const ATTRIBUTES = new Set([
  'viewbox',
  'width',
  'height',
  'x',
  'y',
  'x1',
  'x2',
  'y1',
  'y2',
  'cx',
  'cy',
  'r',
  'rx',
  'ry',
  'd',
  'points',
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-width',
  'stroke-dasharray',
  'stroke-linecap',
  'stroke-linejoin',
  'stroke-opacity',
  'opacity',
  'transform',
  'font-size',
  'font-family',
  'font-weight',
  'text-anchor',
  'dominant-baseline',
  'role',
  'aria-label',
  'aria-hidden',
  'id',
  'class',
  'offset',
  'stop-color',
  'clip-path',
  'preserveaspectratio',
  'xmlns',
  'dx',
  'dy',
  'focusable',
]);
const SVG_NS = 'http://www.w3.org/2000/svg';

/** Returns a sanitized <svg> element, or null when the input is not a usable SVG. */
export function safeSvg(source: string, label: string): SVGSVGElement | null {
  if (!source || source.length > 200_000) return null;
  const doc = new DOMParser().parseFromString(source, 'image/svg+xml');
  const root = doc.documentElement;
  if (!root || root.nodeName.toLowerCase() !== 'svg' || doc.getElementsByTagName('parsererror').length > 0)
    return null;
  const out = copy(root);
  if (!(out instanceof SVGSVGElement)) return null;
  out.setAttribute('role', 'img');
  out.setAttribute('aria-label', label);
  out.setAttribute('focusable', 'false');
  return out;
}

function copy(node: Element): Element | null {
  const name = node.localName.toLowerCase();
  if (!ELEMENTS.has(name) || node.namespaceURI !== SVG_NS) return null;
  const el = document.createElementNS(SVG_NS, node.localName);
  for (const attr of Array.from(node.attributes)) {
    const an = attr.name.toLowerCase();
    if (!ATTRIBUTES.has(an)) continue;
    // url(...) could reference external resources; only local fragment references are allowed.
    if (/url\s*\(/i.test(attr.value) && !/^url\(#[\w-]+\)$/.test(attr.value.trim())) continue;
    el.setAttribute(attr.name, attr.value);
  }
  for (const child of Array.from(node.childNodes)) {
    if (child.nodeType === 3) el.appendChild(document.createTextNode(child.textContent ?? ''));
    else if (child.nodeType === 1) {
      const c = copy(child as Element);
      if (c) el.appendChild(c);
    }
  }
  return el;
}
