// Dark mode: the OS setting (prefers-color-scheme, in CSS) and Office's own theme, which can differ
// (Outlook set to black on a light OS). Office's theme wins when it is known.
export function applyOfficeTheme(): void {
  try {
    const theme = Office.context.officeTheme;
    const bg = theme?.bodyBackgroundColor;
    if (!bg) return;
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(bg);
    if (!m) return;
    const [r, g, b] = [m[1], m[2], m[3]].map((x) => parseInt(x ?? '0', 16) / 255) as [number, number, number];
    const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    document.documentElement.dataset.theme = luminance < 0.5 ? 'dark' : 'light';
  } catch {
    // officeTheme is not available in every host; CSS media queries still apply.
  }
}
