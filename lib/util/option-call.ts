/** A callback option that throws is named in the warning (it read as the method's own error: new user's trial). */
export function optionCall<T>(option: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    throw new Error(`its ${option} option threw: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

/**
 * A key option's value. undefined (a misspelt or optional field: `(q) => q.userID`) would give
 * every call one entry, one caller's result served to all (found by review): the call runs uncached.
 */
export function keyOption(read: () => unknown): unknown {
  const got = optionCall('key', read);
  if (got === undefined)
    throw new Error(
      'its key option returned undefined, which would give every call one entry: return a value for each call ' +
        "(a constant, such as 'all', if they share one on purpose)",
    );
  return got;
}
