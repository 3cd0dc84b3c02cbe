/** What a call came to: its value, or the class name of its error (one list compares both). */
export const outcome = <T>(call: Promise<T>): Promise<T | string> =>
  call.then(
    (value) => value,
    (error: Error) => error.constructor.name,
  );
