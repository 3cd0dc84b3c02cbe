/** A value's kind for "expected an array, got ..." messages: a string is quoted (cut at 60 characters). */
export function kindOf(value: unknown): string {
  return typeof value === 'string' ? `the string ${JSON.stringify(value.slice(0, 60))}` : typeof value;
}
