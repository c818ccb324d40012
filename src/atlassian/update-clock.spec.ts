import { UpdateClock } from './update-clock';

describe(UpdateClock.name, () => {
  it('uses the wall clock when it has moved on', () => {
    let now = 1_000;
    const sut = new UpdateClock(() => now);

    expect(sut.stamp('a').getTime()).toBe(1_000);
    now = 1_005;
    expect(sut.stamp('a').getTime()).toBe(1_005);
  });

  it('advances a key by a millisecond a write within the same millisecond, and only that key', () => {
    const sut = new UpdateClock(() => 1_000);

    expect([sut.stamp('a'), sut.stamp('a'), sut.stamp('a')].map((d) => d.getTime())).toEqual([1_000, 1_001, 1_002]);
    expect(sut.stamp('b').getTime()).toBe(1_000);
  });

  it('never goes back when the wall clock does', () => {
    let now = 2_000;
    const sut = new UpdateClock(() => now);
    sut.stamp('a');

    now = 1_000;
    expect(sut.stamp('a').getTime()).toBe(2_001);
  });

  it('keeps advancing keys it still needs after forgetting the ones the wall clock passed', () => {
    let now = 0;
    const sut = new UpdateClock(() => now);
    for (let i = 0; i < 10_000; i++) {
      sut.stamp(`old-${i}`);
    }
    now = 5;
    sut.stamp('hot');
    sut.stamp('hot');

    expect(sut.stamp('hot').getTime()).toBe(7);
    expect(sut.stamp('old-1').getTime()).toBe(5);
  });
});
