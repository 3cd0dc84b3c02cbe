import { buildCheck } from '../../lib/method/validation';
import type { StandardSchemaLike } from '../../lib';

const schema = (validate: (value: unknown) => unknown): StandardSchemaLike =>
  ({ '~standard': { version: 1, vendor: 'test', validate } }) as StandardSchemaLike;
/** A thenable that is not a native promise, as another promise library returns. */
const thenable = <T>(value: T) => ({ then: (resolve: (v: T) => void) => resolve(value) });

describe('validate (buildCheck)', () => {
  const check = (validate: unknown) => buildCheck(validate, undefined, 'T.m')!;

  it('passes a value only when a predicate answers exactly true, sync or async', async () => {
    expect(check(() => true)(1)).toEqual({ ok: true, value: 1, migrated: false });
    expect(check(() => 1)(1)).toEqual({ ok: false }); // truthy is not true
    expect(check(() => 'yes')(1)).toEqual({ ok: false });
    expect(await check(async () => true)(2)).toEqual({ ok: true, value: 2, migrated: false });
    expect(await check(async () => false)(2)).toEqual({ ok: false });
    expect(await check(() => thenable(true))(3)).toEqual({ ok: true, value: 3, migrated: false });
    expect(await check(() => thenable('true'))(3)).toEqual({ ok: false });
  });

  it('passes a schema result only when it carries a value and no issues, from any promise library', async () => {
    expect(check(schema((v) => ({ value: { v } })))(1)).toEqual({ ok: true, value: { v: 1 }, migrated: false });
    expect(check(schema((v) => ({ value: v, issues: undefined })))(1)).toEqual({ ok: true, value: 1, migrated: false });
    expect(check(schema(() => ({ issues: [{ message: 'no' }] })))(1)).toEqual({ ok: false });
    expect(check(schema(() => ({ value: 1, issues: [] })))(1)).toEqual({ ok: false }); // issues present
    expect(check(schema(() => ({})))(1)).toEqual({ ok: false }); // no value: not a success result
    expect(check(schema(() => undefined))(1)).toEqual({ ok: false });
    expect(await check(schema((v) => thenable({ value: v })))(4)).toEqual({ ok: true, value: 4, migrated: false });
    expect(await check(schema(() => thenable({ issues: [{ message: 'no' }] })))(4)).toEqual({ ok: false });
  });

  it('judges a callable schema (an ArkType type is a function carrying ~standard) as a schema', () => {
    const callable = Object.assign((v: unknown) => v, {
      '~standard': { version: 1, vendor: 'arktype', validate: (v: unknown) => ({ value: v }) },
    });
    expect(check(callable)({ id: 1 })).toEqual({ ok: true, value: { id: 1 }, migrated: false });
    const refusing = Object.assign(() => true, {
      '~standard': { version: 1, vendor: 'arktype', validate: () => ({ issues: [{ message: 'no' }] }) },
    });
    expect(check(refusing)({ id: 1 })).toEqual({ ok: false }); // the schema decides, not the call
  });

  it("calls a schema's validate as its method (an implementation may use this)", () => {
    const standard = {
      version: 1,
      vendor: 'test',
      wanted: 2,
      validate(this: { wanted: number }, v: unknown) {
        return v === this.wanted ? { value: v } : { issues: [{ message: 'no' }] };
      },
    };
    const withThis = { '~standard': standard } as unknown as StandardSchemaLike;
    expect(check(withThis)(2)).toEqual({ ok: true, value: 2, migrated: false });
    expect(check(withThis)(3)).toEqual({ ok: false });
  });

  it('hands a rejection on to the caller (the engine reports it and reads a miss)', async () => {
    await expect(check(async () => Promise.reject(new Error('down')))(1)).rejects.toThrow('down');
    const rejecting = { then: (_: unknown, reject: (e: Error) => void) => reject(new Error('other lib')) };
    await expect(check(schema(() => rejecting))(1)).rejects.toThrow('other lib');
  });

  it('migrates a failing value, which must then pass', async () => {
    const upgrade = buildCheck(
      async (u: { v: number }) => u.v === 2,
      (old: { v: number }) => ({ v: old.v + 1 }),
      'T.m',
    )!;
    expect(await upgrade({ v: 1 })).toEqual({ ok: true, value: { v: 2 }, migrated: true });
    expect(await upgrade({ v: 0 })).toEqual({ ok: false });
  });
});
