// Draws the add-in icons (PNG, RGBA) with no image library: a blue rounded square with a white
// envelope and a teal check. Deterministic, so the build needs no committed binaries.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

export function encodePng(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x, y);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
      raw[o + 3] = a;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function coverage(size, inside) {
  // 4x4 supersampling for smooth edges at 16 px.
  return (x, y) => {
    let n = 0;
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 4; j++) if (inside((x + (i + 0.5) / 4) / size, (y + (j + 0.5) / 4) / size)) n++;
    return n / 16;
  };
}

export function iconPng(size) {
  const r = 0.18;
  const square = coverage(size, (u, v) => {
    const dx = Math.max(Math.abs(u - 0.5) - (0.5 - r), 0);
    const dy = Math.max(Math.abs(v - 0.5) - (0.5 - r), 0);
    return dx * dx + dy * dy <= r * r;
  });
  const envelope = coverage(size, (u, v) => {
    if (u < 0.2 || u > 0.8 || v < 0.3 || v > 0.72) return false;
    const border = u < 0.26 || u > 0.74 || v < 0.36 || v > 0.66;
    const flap = Math.abs(v - 0.36 - (0.3 - Math.abs(u - 0.5)) * 0.7) < 0.045;
    return border || flap;
  });
  const check = coverage(size, (u, v) => {
    const cx = 0.72,
      cy = 0.72;
    if ((u - cx) ** 2 + (v - cy) ** 2 > 0.2 ** 2) return false;
    return true;
  });
  return encodePng(size, (x, y) => {
    const s = square(x, y);
    const e = envelope(x, y);
    const c = check(x, y);
    // Outlook blue background, white envelope, teal badge.
    let rgb = [15, 108, 189];
    rgb = mix(rgb, [255, 255, 255], e);
    rgb = mix(rgb, [0, 150, 136], c);
    return [rgb[0], rgb[1], rgb[2], Math.round(255 * Math.max(s, c))];
  });
}

function mix(a, b, t) {
  return a.map((v, i) => Math.round(v * (1 - t) + b[i] * t));
}

export const ICON_SIZES = [16, 32, 64, 80, 128];
