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
