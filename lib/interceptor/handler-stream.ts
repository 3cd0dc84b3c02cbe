import { Observable, type Subscriber, type Subscription } from 'rxjs';

/*
 * A microservice handler may answer with a stream that stays open: a server-streaming gRPC method,
 * an Observable over TCP or NATS that emits as things happen. Collecting every emission before
 * letting one through delivered nothing until the stream completed (never, for a feed), and every
 * caller that joined it waited as long.
 */

/** A handler's stream, once its nature is known: complete with every emission, or still open. */
export type HandlerOutcome = { values: unknown[] } | { live: Observable<unknown> };

/**
 * Subscribes to the handler's stream. One that completes within the turn of its first emission (a
 * value, a promise, `of(...)`, `from(array)`) resolves with its values, to be cached as before. One
 * still open after that turn is live: it resolves at once with an Observable that delivers the
 * emissions so far and each later one as it comes (unsubscribing from it ends the handler's
 * stream), and is not cached; callers that joined it run the handler themselves. One that errors
 * before it goes live rejects, after handing what it emitted to `partial`.
 */
export function runHandler(
  source: Observable<unknown>,
  partial: (live: Observable<unknown>) => void,
): Promise<HandlerOutcome> {
  return new Promise((resolve, reject) => {
    const values: unknown[] = [];
    let isLive = false;
    let finished = false;
    let end: { error: unknown } | undefined;
    let consumer: Subscriber<unknown> | undefined;
    const live = new Observable<unknown>((subscriber) => {
      consumer = subscriber;
      for (const value of values.splice(0)) subscriber.next(value);
      if (end !== undefined) subscriber.error(end.error);
      else if (finished) subscriber.complete();
      return () => {
        consumer = undefined;
        subscription.unsubscribe();
      };
    });
    const subscription: Subscription = source.subscribe({
      next: (value) => {
        if (consumer !== undefined) return consumer.next(value);
        values.push(value);
        if (values.length === 1 && !isLive)
          setImmediate(() => {
            if (finished || end !== undefined) return;
            isLive = true;
            resolve({ live });
          });
      },
      error: (error: unknown) => {
        end = { error };
        // Values came first: a failed run all the same (a stale entry may stand in), but when none
        // does, the caller that ran it gets them, then the error (`partial`; never cached).
        if (!isLive && values.length > 0) partial(live);
        if (!isLive) reject(error);
        consumer?.error(error);
      },
      complete: () => {
        finished = true;
        if (!isLive) resolve({ values });
        consumer?.complete();
      },
    });
  });
}
