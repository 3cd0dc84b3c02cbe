/** A value's kind for "expected an array, got ..." messages: a string is quoted (cut at 60 characters). */
export function kindOf(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 60))}`;
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : typeof value;
}
