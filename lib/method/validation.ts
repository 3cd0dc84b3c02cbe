import { InvalidOptionError } from '../errors';
import type { CheckVerdict } from '../types/policy';
import type { StandardSchemaLike } from '../types/options';

type Test = (value: unknown) => CheckVerdict | Promise<CheckVerdict>;

function isStandardSchema(value: unknown): value is StandardSchemaLike {
  const standard = (value as { '~standard'?: { validate?: unknown } } | null)?.['~standard'];
  return typeof standard === 'object' && standard !== null && typeof standard.validate === 'function';
}

/**
 * A thenable answer as a native promise (the engine bounds those by the operation timeout); one
 * from another promise library would otherwise be judged as the answer itself.
 */
function settled(result: unknown): Promise<unknown> | undefined {
  if (result instanceof Promise) return result;
  const then = (result as { then?: unknown } | null | undefined)?.then;
  return typeof then === 'function' ? Promise.resolve(result) : undefined;
}

function testOf(validate: unknown, where: string): Test {
  // A schema first: some are callable themselves (an ArkType type is a function with '~standard').
  if (isStandardSchema(validate)) {
    const standard = validate['~standard']; // called as its method: an implementation may use `this`
    // Only a result that says so is valid: anything else (no object, issues present) is not.
    const verdict = (result: unknown): CheckVerdict =>
      typeof result === 'object' && result !== null && 'value' in result && !('issues' in result && result.issues)
        ? { ok: true, value: result.value, migrated: false }
        : { ok: false };
    return (value) => {
      const result = standard.validate(value);
      return settled(result)?.then(verdict) ?? verdict(result);
    };
  }
  if (typeof validate === 'function') {
    const fn = validate as (value: unknown) => unknown;
    return (value) => {
      const verdict = (answer: unknown): CheckVerdict =>
        answer === true ? { ok: true, value, migrated: false } : { ok: false };
      const answer = fn(value);
      return settled(answer)?.then(verdict) ?? verdict(answer);
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
