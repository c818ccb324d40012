import { ThrottledWarning } from './throttled-warning';

describe(ThrottledWarning.name, () => {
  let lines: string[];
  let sut: ThrottledWarning;

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2026-12-04T12:00:00Z') });
    lines = [];
    sut = new ThrottledWarning({ warn: (message) => lines.push(message) }, 30_000);
  });
  afterEach(() => {
    jest.useRealTimers();
  });

  it('writes the first occurrence at once and the count of its repeats when the window ends', () => {
    for (let i = 0; i < 1_547; i++) {
      sut.warn('jira/acme', 'refreshing fails');
    }
    expect(lines).toEqual(['refreshing fails']);

    jest.advanceTimersByTime(30_000);

    expect(lines).toEqual(['refreshing fails', 'refreshing fails (repeated 1546 more times in 30.0 s)']);
  });

  it('keeps one window per key', () => {
    sut.warn('jira/acme', 'acme fails');
    sut.warn('jira/other', 'other fails');
    sut.warn('jira/acme', 'acme fails');

    jest.advanceTimersByTime(30_000);

    expect(lines).toEqual(['acme fails', 'other fails', 'acme fails (repeated 1 more time in 30.0 s)']);
  });

  it('ends a window without a repeat silently, and the next occurrence is written again', () => {
    sut.warn('jira/acme', 'refreshing fails');
    jest.advanceTimersByTime(30_000);
    sut.warn('jira/acme', 'refreshing fails');

    expect(lines).toEqual(['refreshing fails', 'refreshing fails']);
  });

  it('end() writes the count at once; endAll() writes every open count', () => {
    sut.warn('jira/acme', 'acme fails');
    sut.warn('jira/acme', 'acme fails');
    sut.warn('jira/other', 'other fails');
    sut.warn('jira/other', 'other fails');
    jest.advanceTimersByTime(2_000);

    sut.end('jira/acme');
    sut.endAll();
    jest.advanceTimersByTime(60_000);

    expect(lines).toEqual([
      'acme fails',
      'other fails',
      'acme fails (repeated 1 more time in 2.0 s)',
      'other fails (repeated 1 more time in 2.0 s)',
    ]);
  });
});
