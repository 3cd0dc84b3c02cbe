import type { ExecutionContext } from '@nestjs/common';
import type { HttpAdapterLike, HttpAdapterRef } from '../types/request';
import { applyValidators, strongEtag, type ConditionalHeaders, type Validators } from './conditional';
import type { HandlerInfo } from './handler-info';
import { acceptsJsonText, adapterKind, answersFirst, jsonBody, jsonOf, rememberJson, sendsAsGiven } from './hit-reply';
import { cloneResponse } from './response-clone';
import {
  capturedMeta,
  replayMeta,
  restoreResponse,
  setHeaderOn,
  type HttpResponseLike,
  type ResponseMeta,
  type ResponseSnapshot,
} from './response-meta';

/** A cached handler response: every emission (Observable handlers replay whole), plus the status and headers the handler set. */
export interface CachedResponse extends ResponseMeta, Validators {
  values: unknown[];
}
/** The handler ran but its response must not be shared (stream, error status, Set-Cookie...). */
export interface Uncacheable {
  uncacheable: unknown[];
}
export type Entry = CachedResponse | Uncacheable;

/** What a hit is answered with, besides its values. */
export interface HitAnswer {
  /** X-Cache. */
  label: string;
  key: string;
  exposeKey: boolean;
  /** The answering interceptor (a subclass overriding `intercept` may change what hits emit). */
  interceptor: object;
  /** The response as it was before this request's handler failed (a stale entry stands in for it). */
  undo?: ResponseSnapshot;
}

/**
 * The HTTP side of the interceptor: the adapter (read once the app has one), the headers the
 * interceptor sets, the entries it stores for responses and what hits send.
 */
export class HttpResponder {
  private resolved: HttpAdapterLike | undefined;
  private fastify = false;
  private kind: 'express' | 'fastify' | undefined;

  constructor(
    private readonly ref: HttpAdapterRef | undefined,
    /** One of ours that passes requests on untouched, as Nest lists a route's interceptors. */
    private readonly transparent: (interceptor: unknown) => boolean,
  ) {}

  get adapter(): HttpAdapterLike | undefined {
    if (this.resolved !== undefined) return this.resolved;
    const adapter = this.ref?.adapter ?? undefined; // null in a microservice
    if (adapter !== undefined) {
      this.resolved = adapter;
      this.fastify = adapter.getType?.() === 'fastify';
      this.kind = adapterKind(adapter);
    }
    return adapter;
  }

  setHeader(response: HttpResponseLike | undefined, name: string, value: string): void {
    if (response === undefined) return;
    const adapter = this.adapter;
    try {
      setHeaderOn(adapter, response, name, value);
    } catch {
      // headers already sent (e.g. a streaming handler): nothing to add
    }
  }

  label(response: HttpResponseLike | undefined, value: string, key: string, exposeKey: boolean): void {
    this.setHeader(response, 'X-Cache', value);
    if (exposeKey) this.setHeader(response, 'X-Cache-Key', key);
  }

  /**
   * The entry for the values a handler produced: a copy, the status and headers it set, and —
   * computed once, here — the ETag and storage time hits answer (304 on a match, Age) and the
   * JSON text they may send as it is (hit-reply.ts).
   */
  entryFor(
    values: unknown[],
    response: HttpResponseLike | undefined,
    before: ResponseSnapshot | undefined,
    exact: boolean,
  ): CachedResponse {
    const meta = response === undefined || before === undefined ? undefined : capturedMeta(response, before);
    const stored: CachedResponse = { values: cloneResponse(values), ...meta };
    if (response === undefined) return stored;
    const json = jsonBody(values);
    if (json !== undefined) rememberJson(stored, json);
    // Only a hash of what is sent: the stored value, hashed under an interceptor or a framework
    // serializer that changes it (ClassSerializerInterceptor, a per-request field, a json replacer,
    // a response schema), would reveal what it hides and match bodies that differ.
    if (exact) stored.etag = strongEtag(values, meta?.headers, json);
    stored.storedAt = Date.now();
    return stored;
  }

  /**
   * Answers from an entry: the handler's status and headers, ETag and Age, X-Cache; then the
   * values to emit — the stored JSON where nothing but the framework would see the value, else a
   * copy nothing else shares.
   */
  answer(
    context: ExecutionContext,
    handler: HandlerInfo,
    response: HttpResponseLike,
    entry: CachedResponse,
    headers: ConditionalHeaders,
    hit: HitAnswer,
  ): unknown[] {
    const adapter = this.adapter;
    if (hit.undo !== undefined) restoreResponse(adapter, response, hit.undo);
    replayMeta(adapter, response, entry);
    const exact = this.sendsAsIs(context, handler, hit.interceptor, response);
    const validators = exact ? entry : { storedAt: entry.storedAt };
    const own = entry.headers?.etag;
    applyValidators(adapter, response, context.getArgByIndex<object>(0), headers, validators, this.fastify, own);
    this.label(response, hit.label, hit.key, hit.exposeKey);
    if (exact && this.kind !== undefined && adapter !== undefined) {
      const json = jsonOf(entry);
      if (json !== undefined && acceptsJsonText(this.kind!, adapter, response)) return [json];
    }
    return cloneResponse(entry.values);
  }

  /**
   * Whether what this handler's hits emit is sent as it is: the answering interceptor runs its own
   * `intercept` (`transparent`) and only ours pass requests on outside it (hit-reply.ts). Then, where
   * the framework sends it as given too (`sendsAsIs`), the stored JSON text may be sent, and an
   * ETag hashes the bytes sent. Decided once per handler.
   */
  private sendsAsStored(context: ExecutionContext, handler: HandlerInfo, interceptor: object): boolean {
    return (handler.sendsAsStored ??=
      this.transparent(interceptor) &&
      answersFirst(context, this.ref?.globalInterceptors, interceptor.constructor, this.transparent));
  }

  /**
   * Whether `response` gets the very value stored: no interceptor but ours sees it
   * (`sendsAsStored`), and its framework sends it as given — no json replacer, `res.json` wrapper,
   * preSerialization hook or response schema (hit-reply.ts). The framework part is per response: a
   * middleware may wrap `res.json` for some requests only. Unknown adapters: no.
   */
  sendsAsIs(context: ExecutionContext, handler: HandlerInfo, interceptor: object, response: HttpResponseLike): boolean {
    return (
      this.sendsAsStored(context, handler, interceptor) &&
      this.adapter !== undefined &&
      this.kind !== undefined &&
      sendsAsGiven(this.kind, response)
    );
  }
}
