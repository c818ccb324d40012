/** Where {@link ThrottledWarning} writes: a Nest `Logger`, or anything with its `warn`. */
export interface WarningSink {
  warn(message: string): void;
}

/** One key's window: when it opened, its message, and the repeats held back so far. */
interface Window {
  readonly message: string;
  readonly since: number;
  repeats: number;
  readonly timer: NodeJS.Timeout;
}

/**
 * A warning that can repeat many times a second (every call that meets the same condition) logged
 * once per key and `windowMs`: the first occurrence is written at once; the repeats within the
 * window are counted, and when the window ends one line says how many there were. The next
 * occurrence after that opens a new window. With no repeat, the window ends silently.
 *
 * It never holds anything but the message it was given (which must not carry a secret) and counts.
 */
export class ThrottledWarning {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly sink: WarningSink,
    /** How long a key's repeats are held back after a line is written for it. */
    private readonly windowMs: number,
  ) {}

  /** Logs `message` for `key`, unless a line for `key` was written less than the window ago (then counts it). */
  warn(key: string, message: string): void {
    const open = this.windows.get(key);
    if (open) {
      open.repeats++;
      return;
    }
    this.sink.warn(message);
    // unref: a warning window never keeps a process alive on its own.
    const timer = setTimeout(() => this.end(key), this.windowMs).unref();
    this.windows.set(key, { message, since: Date.now(), repeats: 0, timer });
  }

  /** Ends `key`'s window now (e.g. the condition is over), writing its count of repeats if there were any. */
  end(key: string): void {
    const window = this.windows.get(key);
    if (!window) {
      return;
    }
    clearTimeout(window.timer);
    this.windows.delete(key);
    if (window.repeats > 0) {
      const seconds = ((Date.now() - window.since) / 1000).toFixed(1);
      this.sink.warn(
        `${window.message} (repeated ${window.repeats} more time${window.repeats === 1 ? '' : 's'} in ${seconds} s)`,
      );
    }
  }

  /** Ends every window, writing their counts: on shutdown, so that no count is lost. */
  endAll(): void {
    for (const key of [...this.windows.keys()]) {
      this.end(key);
    }
  }
}
