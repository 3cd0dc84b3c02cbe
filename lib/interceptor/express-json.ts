import { dirname } from 'node:path';

/** The start of Express 4's and 5's `res.json` (a wrapper around it reads otherwise). */
const EXPRESS_JSON_SOURCE = /^function json\s*\(obj\)\s*\{/;

/**
 * Express's own `res.json`, captured when this module loads. A hit may hand Express the stored
 * JSON text, skipping `res.json`, only when the response's `res.json` is this function: a
 * middleware that wraps it per response, an `app.response.json`, or a patch of
 * `express.response.json` itself (a redaction or envelope layer installed on the prototype) must
 * see every body, as it saw the miss's. Captured at load, before an app's bootstrap patches it;
 * a function that is not Express's own `json(obj)` by then (patched earlier), or no Express found
 * from here or from `@nestjs/platform-express`: undefined, and every hit goes through `res.json`.
 */
export const expressJson: unknown = capture();

function capture(): unknown {
  for (const from of [platformExpressDir(), undefined]) {
    let json: unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- an optional peer, never installed by us
      const express = require(require.resolve('express', from === undefined ? undefined : { paths: [from] })) as {
        response?: { json?: unknown };
      };
      json = express.response?.json;
    } catch {
      continue; // not found from there
    }
    if (typeof json !== 'function') continue;
    return EXPRESS_JSON_SOURCE.test(Function.prototype.toString.call(json)) ? json : undefined;
  }
  return undefined;
}

/** Where Nest's Express adapter is, whose `express` is the app's (pnpm keeps it out of reach of other packages). */
function platformExpressDir(): string | undefined {
  try {
    return dirname(require.resolve('@nestjs/platform-express'));
  } catch {
    return undefined;
  }
}
