/** Names of T's methods. */
export type MethodName<T> = {
  [K in keyof T]: T[K] extends (...args: never) => unknown ? K : never;
}[keyof T] &
  string;

/** Parameter list of T's method K. */
export type MethodArgs<T, K extends keyof T> = T[K] extends (...args: infer P) => unknown ? P : never;

export interface StoreSelector {
  /** Only this store; default: every store. */
  store?: string;
}
