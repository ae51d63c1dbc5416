/** Coalesce any number of `schedule()` calls into one `flush` per animation frame. */
export function frameScheduler(flush: () => void): { schedule(): void; cancel(): void } {
  let handle: number | null = null;
  const raf: (cb: () => void) => number =
    typeof requestAnimationFrame === "function" ? requestAnimationFrame : (cb) => setTimeout(cb, 16) as unknown as number;
  const caf: (h: number) => void = typeof cancelAnimationFrame === "function" ? cancelAnimationFrame : (h) => clearTimeout(h);
  return {
    schedule() {
      if (handle !== null) return;
      handle = raf(() => {
        handle = null;
        flush();
      });
    },
    cancel() {
      if (handle !== null) caf(handle);
      handle = null;
    },
  };
}
