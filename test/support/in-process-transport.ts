import { Server, type CustomTransportStrategy } from '@nestjs/microservices';

/**
 * A microservice transport with no wire: a spec's `dispatch` calls the handler Nest registered for a
 * pattern (`getHandlerByPattern`), through Nest's real RPC pipeline, with the context it chooses.
 */
export abstract class InProcessTransport extends Server implements CustomTransportStrategy {
  listen(callback: () => void) {
    callback();
  }
  close() {}
  on() {}
  unwrap<T>(): T {
    return undefined as T;
  }
}
