import { InvalidOptionError } from '../errors';
import type { CheckVerdict } from '../types/policy';
import type { StandardSchemaLike } from '../types/options';

type Test = (value: unknown) => CheckVerdict | Promise<CheckVerdict>;

function isStandardSchema(value: unknown): value is StandardSchemaLike {
  const standard = (value as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
  return typeof standard === 'object' && standard !== null && typeof standard.validate === 'function';
}

function testOf(validate: unknown, where: string): Test {
  if (typeof validate === 'function') {
    const fn = validate as (value: unknown) => unknown;
    return (value) => (fn(value) === true ? { ok: true, value, migrated: false } : { ok: false });
  }
  if (isStandardSchema(validate)) {
    const run = validate['~standard'].validate;
    const verdict = (result: { value?: unknown; issues?: unknown }): CheckVerdict =>
      result.issues === undefined ? { ok: true, value: result.value, migrated: false } : { ok: false };
    return (value) => {
      const result = run(value);
      return result instanceof Promise ? result.then(verdict) : verdict(result);
    };
  }
  throw new InvalidOptionError(
    `${where}: option validate must be a function (value) => boolean or a Standard Schema (zod, valibot, arktype...).`,
  );
}

/**
 * The read check of `validate` (a predicate or any Standard Schema) and `migrate`: an old value is
 * upgraded by `migrate` and must then pass `validate`, or it is invalid (a miss).
 */
export function buildCheck(
  validate: unknown,
  migrate: unknown,
  where: string,
): ((value: unknown) => CheckVerdict | Promise<CheckVerdict>) | undefined {
  if (validate === undefined && migrate === undefined) return undefined;
  if (validate === undefined)
    throw new InvalidOptionError(
      `${where}: option migrate needs validate, which tells an old entry from a current one.`,
    );
  if (migrate !== undefined && typeof migrate !== 'function')
    throw new InvalidOptionError(`${where}: option migrate must be a function (old) => current.`);
  const test = testOf(validate, where);
  const upgrade = migrate as ((old: unknown) => unknown) | undefined;
  const after =
    (old: unknown) =>
    (verdict: CheckVerdict): CheckVerdict | Promise<CheckVerdict> => {
      if (verdict.ok || upgrade === undefined) return verdict;
      const again = test(upgrade(old));
      const migrated = (v: CheckVerdict): CheckVerdict => (v.ok ? { ...v, migrated: true } : v);
      return again instanceof Promise ? again.then(migrated) : migrated(again);
    };
  return (value) => {
    const first = test(value);
    return first instanceof Promise ? first.then(after(value)) : after(value)(first);
  };
}
