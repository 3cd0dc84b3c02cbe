/**
 * Hooks and listeners are typed to return void, yet an async one compiles: when what a callback
 * returned is a promise, its rejection goes to `onError` rather than ending the process unhandled.
 */
export function onRejection(returned: unknown, onError: (error: unknown) => void): void {
  if (returned instanceof Promise) returned.catch(onError);
}
