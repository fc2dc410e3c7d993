// Promise wrappers for Office.js callback APIs. The JS-only runtime has no Office.onReady and no
// promise-returning Office APIs, so everything goes through these.

export class OfficeCallError extends Error {
  constructor(
    readonly operation: string,
    readonly officeCode: number | undefined,
    officeMessage: string | undefined,
  ) {
    // The Office error message never contains item content; keep it for diagnosis.
    super(
      `${operation} failed${officeCode !== undefined ? ` (${officeCode})` : ''}: ${officeMessage ?? 'unknown error'}`,
    );
    this.name = 'OfficeCallError';
  }
}

interface AsyncResultLike<T> {
  status: unknown;
  value: T;
  error?: { code?: number; message?: string } | null;
}

/** Calls `fn` with a callback and resolves with the result's value, or rejects on failure. */
export function officeCall<T>(
  operation: string,
  fn: (cb: (r: AsyncResultLike<T>) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      fn((r) => {
        if (isSucceeded(r.status)) resolve(r.value);
        else reject(new OfficeCallError(operation, r.error?.code, r.error?.message));
      });
    } catch (e) {
      reject(new OfficeCallError(operation, undefined, e instanceof Error ? e.message : String(e)));
    }
  });
}

function isSucceeded(status: unknown): boolean {
  // Office.AsyncResultStatus.Succeeded is the string "succeeded" in Office.js.
  const succeeded =
    typeof Office !== 'undefined' && Office.AsyncResultStatus
      ? (Office.AsyncResultStatus.Succeeded as unknown)
      : 'succeeded';
  return status === succeeded || status === 'succeeded';
}
